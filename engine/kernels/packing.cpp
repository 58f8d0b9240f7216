#include "kernels/packing.h"

#include <cstring>

#include "kernels/quant_blocks.h"
#include "kernels/type_traits.h"

namespace hearth::kernels {

bool packable(ggml_type t) {
  const type_traits* tt = type_traits_of(t);
  return tt && tt->pack;
}

size_t packed_group_bytes(ggml_type t, int64_t cols) {
  const type_traits& tt = *type_traits_of(t);
  return static_cast<size_t>(cols / tt.block) * tt.packed_block_bytes;
}

size_t packed_bytes(ggml_type t, int64_t rows, int64_t cols) {
  return static_cast<size_t>((rows + pack_rows - 1) / pack_rows) * packed_group_bytes(t, cols);
}

void pack_weights(ggml_type t, const uint8_t* src, size_t row_bytes, int64_t rows, int64_t cols, uint8_t* dst,
                  int64_t group_begin, int64_t group_end) {
  const type_traits& tt = *type_traits_of(t);
  const int64_t blocks = cols / tt.block;
  const size_t group_bytes = packed_group_bytes(t, cols);
  for (int64_t g = group_begin; g < group_end; ++g) {
    tt.pack(src, row_bytes, rows, g * pack_rows, blocks, dst + g * group_bytes);
  }
}

void interleave_dwords(const uint8_t* const* rows, int present, size_t offset, int bytes, uint8_t* out, uint8_t flip) {
  for (int j = 0; j < bytes / 4; ++j) {
    uint8_t* o = out + 64 * j;
    for (int r = 0; r < pack_rows; ++r) {
      for (int i = 0; i < 4; ++i) {
        o[4 * r + i] = r < present ? static_cast<uint8_t>(rows[r][offset + 4 * j + i] ^ flip) : 0;
      }
    }
  }
}

void gather_u16(const uint8_t* const* rows, int present, size_t offset, uint16_t* out) {
  for (int r = 0; r < pack_rows; ++r) {
    out[r] = 0;
    if (r < present) std::memcpy(&out[r], rows[r] + offset, 2);
  }
}

void pack_q5_high_bits(const uint8_t* const* rows, int present, size_t offset, uint8_t* out) {
  uint8_t bits[pack_rows][4];
  const uint8_t* regrouped[pack_rows];
  for (int r = 0; r < present; ++r) {
    regroup_q5_high_bits(rows[r] + offset, bits[r]);
    regrouped[r] = bits[r];
  }
  interleave_dwords(regrouped, present, 0, 4, out);
}

}  // namespace hearth::kernels

#include "kernels/packing.h"

#include <cstring>

#include "kernels/quant_blocks.h"

namespace hearth::kernels {

bool packable(ggml_type t) { return t == ggml_type::q8_0 || t == ggml_type::q4_0; }

size_t packed_group_bytes(ggml_type t, int64_t cols) {
  return static_cast<size_t>(cols / 32) *
         (t == ggml_type::q8_0 ? sizeof(block_q8_0x16) : sizeof(block_q4_0x16));
}

size_t packed_bytes(ggml_type t, int64_t rows, int64_t cols) {
  return static_cast<size_t>((rows + pack_rows - 1) / pack_rows) * packed_group_bytes(t, cols);
}

namespace {

template <class Src, class Dst, int Groups>
void pack_group(const uint8_t* src, size_t row_bytes, int64_t rows, int64_t row0, int64_t blocks, Dst* out,
                bool add_128) {
  for (int64_t b = 0; b < blocks; ++b) {
    Dst& d = out[b];
    std::memset(&d, 0, sizeof d);
    for (int r = 0; r < pack_rows && row0 + r < rows; ++r) {
      const Src& s = reinterpret_cast<const Src*>(src + (row0 + r) * row_bytes)[b];
      d.d[r] = s.d;
      for (int j = 0; j < Groups; ++j) {
        for (int i = 0; i < 4; ++i) {
          const auto byte = static_cast<uint8_t>(s.qs[4 * j + i]);
          d.qs[j][4 * r + i] = add_128 ? static_cast<uint8_t>(byte ^ 0x80) : byte;
        }
      }
    }
  }
}

}  // namespace

void pack_weights(ggml_type t, const uint8_t* src, size_t row_bytes, int64_t rows, int64_t cols, uint8_t* dst,
                  int64_t group_begin, int64_t group_end) {
  const int64_t blocks = cols / 32;
  const size_t group_bytes = packed_group_bytes(t, cols);
  for (int64_t g = group_begin; g < group_end; ++g) {
    uint8_t* out = dst + g * group_bytes;
    if (t == ggml_type::q8_0) {
      // x ^ 0x80 of a two's-complement byte is x + 128 as an unsigned byte.
      pack_group<block_q8_0, block_q8_0x16, 8>(src, row_bytes, rows, g * pack_rows, blocks,
                                                reinterpret_cast<block_q8_0x16*>(out), true);
    } else {
      pack_group<block_q4_0, block_q4_0x16, 4>(src, row_bytes, rows, g * pack_rows, blocks,
                                                reinterpret_cast<block_q4_0x16*>(out), false);
    }
  }
}

}  // namespace hearth::kernels

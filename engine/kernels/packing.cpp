#include "kernels/packing.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
  const int dwords = bytes / 4;
  int j = 0;
#if defined(__SSE2__)
  // A whole group, 4 dwords of 4 rows at a time: one 4x4 transpose of dwords (SSE2 is part of
  // x86-64, so this is baseline code). Packing runs at load, and was most of a Q8_0 model's start.
  if (present == pack_rows) {
    const __m128i f = _mm_set1_epi8(static_cast<char>(flip));
    for (; j + 4 <= dwords; j += 4) {
      for (int r = 0; r < pack_rows; r += 4) {
        const auto load = [&](int q) {
          return _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[r + q] + offset + 4 * j));
        };
        const __m128i a = load(0), b = load(1), c = load(2), d = load(3);  // dwords j..j+3 of each row
        const __m128i ab_lo = _mm_unpacklo_epi32(a, b), ab_hi = _mm_unpackhi_epi32(a, b);  // a0 b0 a1 b1, a2 b2 a3 b3
        const __m128i cd_lo = _mm_unpacklo_epi32(c, d), cd_hi = _mm_unpackhi_epi32(c, d);  // c0 d0 c1 d1, c2 d2 c3 d3
        const auto store = [&](int k, __m128i v) {  // dword j + k of rows r..r+3
          _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 64 * (j + k) + 4 * r), _mm_xor_si128(v, f));
        };
        store(0, _mm_unpacklo_epi64(ab_lo, cd_lo));
        store(1, _mm_unpackhi_epi64(ab_lo, cd_lo));
        store(2, _mm_unpacklo_epi64(ab_hi, cd_hi));
        store(3, _mm_unpackhi_epi64(ab_hi, cd_hi));
      }
    }
  }
#endif
  const uint32_t flip4 = flip * 0x01010101u;
  for (; j < dwords; ++j) {
    uint8_t* o = out + 64 * j;
    for (int r = 0; r < pack_rows; ++r) {
      uint32_t v = 0;
      if (r < present) {
        std::memcpy(&v, rows[r] + offset + 4 * j, 4);
        v ^= flip4;
      }
      std::memcpy(o + 4 * r, &v, 4);
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

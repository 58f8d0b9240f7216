#pragma once
// The AVX2 matmul driver over weights packed in 16-row groups (quant_blocks.h), shared by the
// per-type block kernels (quants_avx2.cpp, kquants_avx2.cpp). Each 64-byte group vector of a
// packed block is read as two 32-byte halves of 8 rows. Include only from files built with the
// AVX2 flags (the *_avx2.cpp files).
//
// A block kernel is a struct with
//   using act = <activation block type>;
//   static constexpr size_t block_bytes = <bytes of one packed block>;
//   static constexpr size_t prefetch = <bytes ahead to prefetch, or 0>;
//   static constexpr int prefetch_rows = <prefetch in tiles of at most this many activation rows>;
//   template <int C> static void block(const uint8_t* w, const act* const* x, __m256* acc);
// which adds one packed block's contribution to the float accumulators acc[h * C + c] (rows
// 8h..8h+7, activation row c), following the type's scalar recipe exactly. Without vpdpbusd,
// 8-bit products go through vpmaddubsw (unsigned weights times signed activations; every type
// keeps its pair sums within int16) and vpmaddwd.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/quant_blocks.h"

namespace hearth::kernels {

// Registration of the packed kernels into the AVX2 set (defined in their files).
void add_quants_avx2(kernel_set& k);
void add_kquants_avx2(kernel_set& k);

namespace v256 {

inline __m256i bcast32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline __m256i bcast_pair(int32_t lo, int32_t hi) {
  return _mm256_set1_epi32(static_cast<int32_t>((static_cast<uint32_t>(hi) << 16) | (static_cast<uint32_t>(lo) & 0xffff)));
}

// Half h (rows 8h..8h+7) of a 64-byte group vector.
inline __m256i load_half(const uint8_t* group, int h) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 32 * h));
}
// Rows 8h..8h+7 of 16 fp16 scales.
inline __m256 load_fp16x8(const uint16_t* p, int h) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8 * h)));
}

inline __m256i low_nibbles(__m256i v) { return _mm256_and_si256(v, _mm256_set1_epi8(0x0f)); }
inline __m256i high_nibbles(__m256i v) { return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0f)); }
inline __m256i shift_left16(__m256i v, int n) { return _mm256_sll_epi16(v, _mm_cvtsi32_si128(n)); }
inline __m256i shift_right16(__m256i v, int n) { return _mm256_srl_epi16(v, _mm_cvtsi32_si128(n)); }

// acc + sum over each 4-byte group of unsigned w times signed x, per 32-bit lane: vpdpbusd's
// result, provided each pair of products fits int16 (unsigned weights up to 127 do).
inline __m256i dot_u8s8(__m256i acc, __m256i w, __m256i x) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
}
// acc + the int16 pairs of a times those of b, per 32-bit lane (vpdpwssd).
inline __m256i dot_s16(__m256i acc, __m256i a, __m256i b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }

inline __m256i lane_byte(__m256i v, int i) {
  return _mm256_and_si256(_mm256_srl_epi32(v, _mm_cvtsi32_si128(8 * i)), _mm256_set1_epi32(0xff));
}
inline __m256i lane_byte_signed(__m256i v, int i) {
  return _mm256_srai_epi32(_mm256_sll_epi32(v, _mm_cvtsi32_si128(24 - 8 * i)), 24);
}
inline __m256i even_bytes16(__m256i v) { return _mm256_and_si256(v, _mm256_set1_epi32(0x00ff00ff)); }
inline __m256i odd_bytes16(__m256i v) { return _mm256_and_si256(_mm256_srli_epi32(v, 8), _mm256_set1_epi32(0x00ff00ff)); }
inline __m256i even_bytes16_signed(__m256i v) { return _mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8); }
inline __m256i odd_bytes16_signed(__m256i v) { return _mm256_srai_epi16(v, 8); }

inline __m256 scale_add(__m256 acc, __m256 dw, float dx, __m256i isum) {
  return _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(dx)), _mm256_cvtepi32_ps(isum), acc);
}
inline __m256 scale_sub(__m256 acc, __m256 dm, float dx, __m256i msum) {
  const __m256 f = _mm256_mul_ps(dm, _mm256_set1_ps(dx));
  return _mm256_fmadd_ps(_mm256_xor_ps(f, _mm256_set1_ps(-0.0f)), _mm256_cvtepi32_ps(msum), acc);
}

// One 16-row group by C activation rows, over all blocks (with software prefetch as in
// packed_avx512.h).
template <class K, int C>
void packed_tile(int64_t blocks, const uint8_t* w, const uint8_t* x, size_t x_stride, float* y, size_t ldy,
                 int64_t rows_left) {
  using act = typename K::act;
  __m256 acc[2 * C];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const act* xb[C];
    for (int c = 0; c < C; ++c) xb[c] = reinterpret_cast<const act*>(x + c * x_stride) + b;
    if constexpr (K::prefetch > 0 && C <= K::prefetch_rows) {
      const char* ahead = reinterpret_cast<const char*>(w + b * K::block_bytes + K::prefetch);
      for (size_t off = 0; off < K::block_bytes; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
    }
    K::template block<C>(w + b * K::block_bytes, xb, acc);
  }
  alignas(32) float out[16];
  for (int c = 0; c < C; ++c) {
    _mm256_store_ps(out, acc[c]);
    _mm256_store_ps(out + 8, acc[C + c]);
    std::memcpy(y + c * ldy, out, sizeof(float) * static_cast<size_t>(rows_left < 16 ? rows_left : 16));
  }
}

// gemm_fn over a packed matrix: for each group, activation rows in tiles of 3, then 1.
template <class K, int Block>
void gemm_packed(int64_t k, const void* w, size_t w_stride, int64_t n, const void* x, size_t x_stride, int64_t m,
                 float* y, size_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  const int64_t blocks = k / Block, groups = (n + pack_rows - 1) / pack_rows;
  for (int64_t g = 0; g < groups; ++g) {
    int64_t i = 0;
    for (; i + 3 <= m; i += 3) {
      packed_tile<K, 3>(blocks, wb + g * w_stride, xb + i * x_stride, x_stride, y + i * ldy + g * pack_rows, ldy,
                        n - g * pack_rows);
    }
    for (; i < m; ++i) {
      packed_tile<K, 1>(blocks, wb + g * w_stride, xb + i * x_stride, x_stride, y + i * ldy + g * pack_rows, ldy,
                        n - g * pack_rows);
    }
  }
}

}  // namespace v256
}  // namespace hearth::kernels

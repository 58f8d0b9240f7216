#pragma once
// The AVX-512 VNNI matmul driver over weights packed in 16-row groups (one row per 32-bit lane,
// quant_blocks.h), shared by the per-type block kernels (quants_avx512.cpp, kquants_avx512.cpp).
// Include only from files built with the AVX-512 flags (the *_avx512.cpp files).
//
// A block kernel is a struct with
//   using act = <activation block type>;
//   static constexpr size_t block_bytes = <bytes of one packed block>;
//   static constexpr size_t prefetch = <bytes ahead to prefetch, or 0>;
//   static constexpr int prefetch_rows = <prefetch in tiles of at most this many activation rows>;
//   template <int C> static void block(const uint8_t* w, const act* const* x, __m512* acc);
// which adds one packed block's contribution to the 16 rows' float accumulators of each of C
// activation rows (x[c] is activation row c's block), following the type's scalar recipe exactly.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/quant_blocks.h"

namespace hearth::kernels {

// Registration of the packed kernels into the AVX-512 set (defined in their files).
void add_quants_avx512(kernel_set& k);
void add_kquants_avx512(kernel_set& k);

namespace v512 {

// 4 bytes at p broadcast to every 32-bit lane.
inline __m512i bcast32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// Two int16 values broadcast as a pair to every 32-bit lane (lo in the low half).
inline __m512i bcast_pair(int32_t lo, int32_t hi) {
  return _mm512_set1_epi32(static_cast<int32_t>((static_cast<uint32_t>(hi) << 16) | (static_cast<uint32_t>(lo) & 0xffff)));
}

inline __m512i load(const void* p) { return _mm512_loadu_si512(p); }
inline __m512 load_fp16x16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// The low / high nibbles of each byte.
inline __m512i low_nibbles(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi8(0x0f)); }
inline __m512i high_nibbles(__m512i v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0f)); }

// Shifts of each 16- or 32-bit element by a count known at run time (constant after unrolling).
inline __m512i shift_left16(__m512i v, int n) { return _mm512_sll_epi16(v, _mm_cvtsi32_si128(n)); }
inline __m512i shift_right16(__m512i v, int n) { return _mm512_srl_epi16(v, _mm_cvtsi32_si128(n)); }

// Byte i of each 32-bit lane as an int32 (one row's sub-block scale), zero- or sign-extended.
inline __m512i lane_byte(__m512i v, int i) {
  return _mm512_and_si512(_mm512_srl_epi32(v, _mm_cvtsi32_si128(8 * i)), _mm512_set1_epi32(0xff));
}
inline __m512i lane_byte_signed(__m512i v, int i) {
  return _mm512_srai_epi32(_mm512_sll_epi32(v, _mm_cvtsi32_si128(24 - 8 * i)), 24);
}
// Bytes 0 and 2 (even) or 1 and 3 (odd) of each 32-bit lane as a pair of int16, zero- or
// sign-extended: the operand of vpdpwssd against a pair of activation sums.
inline __m512i even_bytes16(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi32(0x00ff00ff)); }
inline __m512i odd_bytes16(__m512i v) { return _mm512_and_si512(_mm512_srli_epi32(v, 8), _mm512_set1_epi32(0x00ff00ff)); }
inline __m512i even_bytes16_signed(__m512i v) { return _mm512_srai_epi16(_mm512_slli_epi16(v, 8), 8); }
inline __m512i odd_bytes16_signed(__m512i v) { return _mm512_srai_epi16(v, 8); }

// acc = fma(dw * dx, float(isum), acc) for each row lane: the final step of recipes Q8S and K.
inline __m512 scale_add(__m512 acc, __m512 dw, float dx, __m512i isum) {
  return _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(dx)), _mm512_cvtepi32_ps(isum), acc);
}
// acc = fma(-(dm * dx), float(msum), acc): the minimums of recipes K (negation is exact).
inline __m512 scale_sub(__m512 acc, __m512 dm, float dx, __m512i msum) {
  const __m512 f = _mm512_mul_ps(dm, _mm512_set1_ps(dx));
  return _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(f), _mm512_set1_epi32(INT32_MIN))),
                         _mm512_cvtepi32_ps(msum), acc);
}

// One 16-row group by C activation rows, over all blocks. One group at a time: a single
// sequential stream of weights is what the hardware prefetchers follow best (four interleaved
// groups measured ~25% slower for decode). Kernels that spend long on each block (the
// K-quants) also prefetch a few KB ahead: without it, decode streamed Q4_K at ~70% and Q6_K at
// ~45% of Q4_0's bytes per second (a single thread over 250 MB of weights). In tiles of 4
// activation rows Q4_K measured faster without (its blocks take long enough for the hardware
// prefetchers), Q6_K still faster with.
template <class K, int C>
void packed_tile(int64_t blocks, const uint8_t* w, const uint8_t* x, size_t x_stride, float* y, size_t ldy,
                 int64_t rows_left) {
  using act = typename K::act;
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const act* xb[C];
    for (int c = 0; c < C; ++c) xb[c] = reinterpret_cast<const act*>(x + c * x_stride) + b;
    if constexpr (K::prefetch > 0 && C <= K::prefetch_rows) {
      const char* ahead = reinterpret_cast<const char*>(w + b * K::block_bytes + K::prefetch);
      for (size_t off = 0; off < K::block_bytes; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
    }
    K::template block<C>(w + b * K::block_bytes, xb, acc);
  }
  const __mmask16 mask = rows_left >= 16 ? __mmask16(0xffff) : __mmask16((1u << rows_left) - 1);
  for (int c = 0; c < C; ++c) _mm512_mask_storeu_ps(y + c * ldy, mask, acc[c]);
}

// Activation rows in chunks of C, for each group.
template <class K, int C>
void packed_rows(int64_t blocks, const uint8_t* w, size_t group_bytes, int64_t n, const uint8_t* x, size_t x_stride,
                 float* y, size_t ldy) {
  const int64_t groups = (n + pack_rows - 1) / pack_rows;
  for (int64_t g = 0; g < groups; ++g) {
    packed_tile<K, C>(blocks, w + g * group_bytes, x, x_stride, y + g * pack_rows, ldy, n - g * pack_rows);
  }
}

// gemm_fn over a packed matrix (kernels.h): activation rows in tiles of 4, then 2, then 1.
template <class K, int Block>
void gemm_packed(int64_t k, const void* w, size_t w_stride, int64_t n, const void* x, size_t x_stride, int64_t m,
                 float* y, size_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  const int64_t blocks = k / Block;
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) packed_rows<K, 4>(blocks, wb, w_stride, n, xb + i * x_stride, x_stride, y + i * ldy, ldy);
  for (; i + 2 <= m; i += 2) packed_rows<K, 2>(blocks, wb, w_stride, n, xb + i * x_stride, x_stride, y + i * ldy, ldy);
  for (; i < m; ++i) packed_rows<K, 1>(blocks, wb, w_stride, n, xb + i * x_stride, x_stride, y + i * ldy, ldy);
}

}  // namespace v512
}  // namespace hearth::kernels

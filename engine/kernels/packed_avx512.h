#pragma once
// AVX-512 VNNI vector operations for the packed-weight block kernels (packed_kernels.h), and
// the matmul driver over 16-row groups. Include only from files built with the AVX-512 flags
// (the *_avx512.cpp files).
#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/quant_blocks.h"

namespace hearth::kernels {

// Registration of the packed kernels into the AVX-512 set (defined in their files).
void add_quants_avx512(kernel_set& k);
void add_kquants_avx512(kernel_set& k);

// One 64-byte group vector holds all 16 rows: one 32-bit lane per row.
struct v512 {
  using vi = __m512i;
  using vf = __m512;
  static constexpr int halves = 1;
  // Weights kept as unsigned bytes for vpdpbusd: Q8_0 stored +128 and the IQ4 codebook +128,
  // the offset folded out through the activation sums.
  static constexpr int q8_offset = 128;
  static constexpr int iq4_offset = 128;

  static vi load(const uint8_t* group, int) { return _mm512_loadu_si512(group); }
  static vf load_fp16(const uint16_t* p, int) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static vi load_u16(const uint16_t* p, int) { return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static vi zero() { return _mm512_setzero_si512(); }
  static vi bytes(int v) { return _mm512_set1_epi8(static_cast<char>(v)); }
  static vi dwords(int32_t v) { return _mm512_set1_epi32(v); }
  static vi bcast32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
  }

  static vi and_(vi a, vi b) { return _mm512_and_si512(a, b); }
  static vi or_(vi a, vi b) { return _mm512_or_si512(a, b); }
  static vi add(vi a, vi b) { return _mm512_add_epi32(a, b); }
  static vi sub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
  static vi sub16(vi a, vi b) { return _mm512_sub_epi16(a, b); }
  static vi mullo(vi a, vi b) { return _mm512_mullo_epi32(a, b); }
  // An empty asm the value must pass through where it stands: keeps GCC from sinking a running
  // sum's additions to the end of an unrolled kernel (it then kept every partial sum live and
  // spilled them).
  static void pin(vi& v) { asm("" : "+v"(v)); }
  // Shifts by a count known after unrolling.
  static vi sll16(vi v, int n) { return _mm512_sll_epi16(v, _mm_cvtsi32_si128(n)); }
  static vi srl16(vi v, int n) { return _mm512_srl_epi16(v, _mm_cvtsi32_si128(n)); }
  static vi sra16(vi v, int n) { return _mm512_sra_epi16(v, _mm_cvtsi32_si128(n)); }
  static vi sll32(vi v, int n) { return _mm512_sll_epi32(v, _mm_cvtsi32_si128(n)); }
  static vi srl32(vi v, int n) { return _mm512_srl_epi32(v, _mm_cvtsi32_si128(n)); }
  static vi sra32(vi v, int n) { return _mm512_sra_epi32(v, _mm_cvtsi32_si128(n)); }
  // The bits of a where mask is set, of b elsewhere (one vpternlogd).
  static vi select(vi a, vi b, vi mask) { return _mm512_ternarylogic_epi32(a, b, mask, 0xe4); }
  // Each byte's low nibble looked up in a 16-byte table.
  static vi table16(const uint8_t* t) {
    return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
  }
  static vi lookup(vi table, vi nibbles) { return _mm512_shuffle_epi8(table, nibbles); }

  // acc + sum over each 4-byte group of unsigned w times signed x, per 32-bit lane.
  static vi dpbusd(vi acc, vi w, vi x) { return _mm512_dpbusd_epi32(acc, w, x); }
  // acc + the int16 pairs of a times those of b, per 32-bit lane.
  static vi dpwssd(vi acc, vi a, vi b) { return _mm512_dpwssd_epi32(acc, a, b); }
  // The products of Q8_0 weights (stored +128) and of IQ4 weights (looked up +128).
  static vi dot_q8(vi acc, vi w, vi x) { return dpbusd(acc, w, x); }
  static vi dot_iq4(vi acc, vi w, vi x) { return dpbusd(acc, w, x); }

  // acc = fma(dw * dx, float(isum), acc), per row lane.
  static vf scale_add(vf acc, vf dw, float dx, vi isum) {
    return _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(dx)), _mm512_cvtepi32_ps(isum), acc);
  }
  // acc = fma(-(dm * dx), float(msum), acc) (the negation is exact).
  static vf scale_sub(vf acc, vf dm, float dx, vi msum) {
    const __m512 f = _mm512_mul_ps(dm, _mm512_set1_ps(dx));
    return _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(f), _mm512_set1_epi32(INT32_MIN))),
                           _mm512_cvtepi32_ps(msum), acc);
  }

  // Float rows (attend_grouped.h's accumulate_head_f32): 16 floats per vector.
  static constexpr int float_lanes = 16;
  static vf fload(const float* p) { return _mm512_loadu_ps(p); }
  static void fstore(float* p, vf v) { _mm512_storeu_ps(p, v); }
  static vf fset1(float a) { return _mm512_set1_ps(a); }
  static vf fmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
  static vf fmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }  // a * b + c, one rounding
};

namespace v512_driver {

// One 16-row group by C activation rows, over all blocks. One group at a time: a single
// sequential stream of weights is what the hardware prefetchers follow best (four interleaved
// groups measured ~25% slower for decode). Kernels that spend long on each block (the
// K-quants) also prefetch a few KB ahead in small tiles (K::prefetch_rows): without it, decode
// streamed Q4_K at ~70% and Q6_K at ~45% of Q4_0's bytes per second (a single thread over 250 MB
// of weights).
//
// Tiles of 4 and 8 activation rows spend long enough on each block that the hardware prefetchers
// fall behind a stream from memory, so every type prefetches tile_prefetch_bytes ahead there (or
// its own distance, where it has one for such tiles). That is what a tile reads when nothing holds
// its weights in L2: fewer than 16 rows (a speculative verification, a small batch, a prompt's
// last rows). pp8 went 1.3-1.6x faster with it (docs/performance.md), pp128 1-5%; Q4_0 in tiles
// of 2 measured slightly slower with it, so they and decode's single rows keep the old rule.
inline constexpr size_t tile_prefetch_bytes = 4096;

template <class K, int C>
void packed_tile(int64_t blocks, const uint8_t* w, const uint8_t* x, size_t x_stride, float* y, size_t ldy,
                 int64_t rows_left) {
  using act = typename K::act;
  __m512 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const act* xb[C];
    for (int c = 0; c < C; ++c) xb[c] = reinterpret_cast<const act*>(x + c * x_stride) + b;
    constexpr size_t ahead_bytes = K::prefetch > 0 && C <= K::prefetch_rows ? K::prefetch
                                   : C >= 4                                ? tile_prefetch_bytes
                                                                           : 0;
    if constexpr (ahead_bytes > 0) {
      const char* ahead = reinterpret_cast<const char*>(w + b * K::block_bytes + ahead_bytes);
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

}  // namespace v512_driver

// Prefill's tiles of 8 rows take the weights in slices of about this many bytes, each slice
// through every tile before the next: the slice stays in the core's L2 (1 MB on the machines
// measured) across tiles, where the whole matrix (several MB) came again from L3 or memory for
// each tile of 8 rows. +2-5% pp128 and pp512 (docs/performance.md).
inline constexpr size_t tile_slice_bytes = 256u << 10;

// gemm_fn over a packed matrix (kernels.h): activation rows in tiles of 8 (a weight slice at a
// time, above, once there are two tiles to share it), then 4, 2 and 1. Each output is computed
// by the same tile over the same blocks whatever the order, so the results do not depend on it.
template <class K>
struct driver512 {
  static void gemm(int64_t k, const void* w, size_t w_stride, int64_t n, const void* x, size_t x_stride, int64_t m,
                   float* y, size_t ldy);
};

template <class K>
void driver512<K>::gemm(int64_t k, const void* w, size_t w_stride, int64_t n, const void* x, size_t x_stride, int64_t m,
                        float* y, size_t ldy) {
  using namespace v512_driver;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  const int64_t blocks = k / K::elements;
  int64_t i = 0;
  if (m >= 16) {
    const int64_t slice_rows = std::max<int64_t>(1, static_cast<int64_t>(tile_slice_bytes / w_stride)) * pack_rows;
    const int64_t tiles_end = m / 8 * 8;
    for (int64_t r0 = 0; r0 < n; r0 += slice_rows) {
      const uint8_t* ws = wb + r0 / pack_rows * w_stride;
      const int64_t rows = std::min(slice_rows, n - r0);
      for (int64_t t = 0; t < tiles_end; t += 8) {
        packed_rows<K, 8>(blocks, ws, w_stride, rows, xb + t * x_stride, x_stride, y + t * ldy + r0, ldy);
      }
    }
    i = tiles_end;
  }
  for (; i + 8 <= m; i += 8) packed_rows<K, 8>(blocks, wb, w_stride, n, xb + i * x_stride, x_stride, y + i * ldy, ldy);
  for (; i + 4 <= m; i += 4) packed_rows<K, 4>(blocks, wb, w_stride, n, xb + i * x_stride, x_stride, y + i * ldy, ldy);
  for (; i + 2 <= m; i += 2) packed_rows<K, 2>(blocks, wb, w_stride, n, xb + i * x_stride, x_stride, y + i * ldy, ldy);
  for (; i < m; ++i) packed_rows<K, 1>(blocks, wb, w_stride, n, xb + i * x_stride, x_stride, y + i * ldy, ldy);
}

}  // namespace hearth::kernels

#pragma once
// AVX2 vector operations for the packed-weight block kernels (packed_kernels.h), and the
// matmul driver over 16-row groups. Each 64-byte group vector of a packed block is read as two
// 32-byte halves of 8 rows. Include only from files built with the AVX2 flags (*_avx2.cpp).
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
// Matmuls of Q8_0 and Q4_0 rows in their stored layout (a quantized KV cache's keys);
// registered into the AVX-512 set as well.
void add_kv_quant_avx2(kernel_set& k);

// Half h of a 64-byte group vector holds rows 8h..8h+7. Without vpdpbusd, 8-bit products go
// through vpmaddubsw (unsigned weights times signed activations: every unsigned level in
// these formats is at most 63, so each pair sum fits int16) and vpmaddwd; signed weights (Q8_0,
// the IQ4 codebook) as |w| times x with w's sign.
struct v256 {
  using vi = __m256i;
  using vf = __m256;
  static constexpr int halves = 2;
  static constexpr int q8_offset = 0;
  static constexpr int iq4_offset = 0;

  static vi load(const uint8_t* group, int h) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 32 * h)); }
  static vf load_fp16(const uint16_t* p, int h) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8 * h))); }
  static vi load_u16(const uint16_t* p, int h) { return _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8 * h))); }
  static vi zero() { return _mm256_setzero_si256(); }
  static vi bytes(int v) { return _mm256_set1_epi8(static_cast<char>(v)); }
  static vi dwords(int32_t v) { return _mm256_set1_epi32(v); }
  static vi bcast32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }

  static vi and_(vi a, vi b) { return _mm256_and_si256(a, b); }
  static vi or_(vi a, vi b) { return _mm256_or_si256(a, b); }
  static vi add(vi a, vi b) { return _mm256_add_epi32(a, b); }
  static vi sub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
  static vi sub16(vi a, vi b) { return _mm256_sub_epi16(a, b); }
  static vi mullo(vi a, vi b) { return _mm256_mullo_epi32(a, b); }
  static void pin(vi& v) { asm("" : "+x"(v)); }  // see v512::pin
  static vi sll16(vi v, int n) { return _mm256_sll_epi16(v, _mm_cvtsi32_si128(n)); }
  static vi srl16(vi v, int n) { return _mm256_srl_epi16(v, _mm_cvtsi32_si128(n)); }
  static vi sra16(vi v, int n) { return _mm256_sra_epi16(v, _mm_cvtsi32_si128(n)); }
  static vi sll32(vi v, int n) { return _mm256_sll_epi32(v, _mm_cvtsi32_si128(n)); }
  static vi srl32(vi v, int n) { return _mm256_srl_epi32(v, _mm_cvtsi32_si128(n)); }
  static vi sra32(vi v, int n) { return _mm256_sra_epi32(v, _mm_cvtsi32_si128(n)); }
  static vi select(vi a, vi b, vi mask) { return _mm256_or_si256(_mm256_and_si256(a, mask), _mm256_andnot_si256(mask, b)); }
  static vi table16(const uint8_t* t) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
  }
  static vi lookup(vi table, vi nibbles) { return _mm256_shuffle_epi8(table, nibbles); }

  static vi dpbusd(vi acc, vi w, vi x) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
  }
  static vi dpwssd(vi acc, vi a, vi b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
  // Signed weights w (|w| <= 127): |w| * sign(x, w) keeps every pair sum within int16.
  static vi dot_signed(vi acc, vi w, vi x) {
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
  }
  static vi dot_q8(vi acc, vi w, vi x) { return dot_signed(acc, _mm256_xor_si256(w, bytes(0x80)), x); }
  static vi dot_iq4(vi acc, vi w, vi x) { return dot_signed(acc, w, x); }

  static vf scale_add(vf acc, vf dw, float dx, vi isum) {
    return _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(dx)), _mm256_cvtepi32_ps(isum), acc);
  }
  static vf scale_sub(vf acc, vf dm, float dx, vi msum) {
    const __m256 f = _mm256_mul_ps(dm, _mm256_set1_ps(dx));
    return _mm256_fmadd_ps(_mm256_xor_ps(f, _mm256_set1_ps(-0.0f)), _mm256_cvtepi32_ps(msum), acc);
  }

  // Float rows (attend_grouped.h's accumulate_head_f32): 8 floats per vector.
  static constexpr int float_lanes = 8;
  static vf fload(const float* p) { return _mm256_loadu_ps(p); }
  static void fstore(float* p, vf v) { _mm256_storeu_ps(p, v); }
  static vf fset1(float a) { return _mm256_set1_ps(a); }
  static vf fmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
  static vf fmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }  // a * b + c, one rounding
};

namespace v256_driver {

// Tiles of 3 activation rows prefetch this far ahead, as packed_avx512.h's tiles of 4 and 8 do.
inline constexpr size_t tile_prefetch_bytes = 4096;

// One 16-row group by C activation rows, over all blocks (prefetching as in packed_avx512.h).
template <class K, int C>
void packed_tile(int64_t blocks, const uint8_t* w, const uint8_t* x, size_t x_stride, float* y, size_t ldy,
                 int64_t rows_left) {
  using act = typename K::act;
  __m256 acc[2 * C];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; ++b) {
    const act* xb[C];
    for (int c = 0; c < C; ++c) xb[c] = reinterpret_cast<const act*>(x + c * x_stride) + b;
    constexpr size_t ahead_bytes = K::prefetch > 0 && C <= K::prefetch_rows ? K::prefetch
                                   : C >= 3                                ? tile_prefetch_bytes
                                                                           : 0;
    if constexpr (ahead_bytes > 0) {
      const char* ahead = reinterpret_cast<const char*>(w + b * K::block_bytes + ahead_bytes);
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

}  // namespace v256_driver

// gemm_fn over a packed matrix: for each group, activation rows in tiles of 3, then 1.
template <class K>
struct driver256 {
  static void gemm(int64_t k, const void* w, size_t w_stride, int64_t n, const void* x, size_t x_stride, int64_t m,
                   float* y, size_t ldy);
};

template <class K>
void driver256<K>::gemm(int64_t k, const void* w, size_t w_stride, int64_t n, const void* x, size_t x_stride, int64_t m,
                        float* y, size_t ldy) {
  using v256_driver::packed_tile;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  const int64_t blocks = k / K::elements, groups = (n + pack_rows - 1) / pack_rows;
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

}  // namespace hearth::kernels

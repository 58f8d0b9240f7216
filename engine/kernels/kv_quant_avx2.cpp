// AVX2 kernels for attention over a quantized KV cache (attention_quant.h): matmuls of Q8_0 and
// Q4_0 rows in their stored layout against q8 activations (recipe Q8S of recipes.h: each block's
// integer dot product formed exactly, then acc = fma(dw * dx, isum, acc) block after block, as
// the scalar gemm_ref does). The softmax steps over the float accumulators are each set's
// kernel_set::softmax_rows_f32.
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/fp16.h"
#include "kernels/packed_avx2.h"
#include "kernels/quant_blocks.h"

namespace hearth::kernels {

namespace {

int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// sum of w[j] * x[j] over 32 signed bytes, exactly: |w| times x with w's sign (each pair sum is
// at most 2 * 128 * 127, inside int16), then pairs of int16 to int32.
int32_t dot_s8(__m256i w, __m256i x) {
  const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  return hsum_i32(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

// sum of u[j] * x[j] for unsigned bytes u <= 15 and signed x, exactly.
int32_t dot_u8(__m256i u, __m256i x) {
  return hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)));
}

float dot_q8_0(const block_q8_0* w, const block_q8_act* x, int64_t k) {
  float acc = 0;
  for (int64_t b = 0; b < k / qk8_0; ++b) {
    const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs));
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    acc = std::fma(fp16_to_fp32(w[b].d) * x[b].d, static_cast<float>(dot_s8(wv, xv)), acc);
  }
  return acc;
}

// Q4_0 levels are nibble - 8: sum((u - 8) * x) = sum(u * x) - 8 * sum(x), both exact.
float dot_q4_0(const block_q4_0* w, const block_q8_act* x, int64_t k) {
  float acc = 0;
  const __m128i low = _mm_set1_epi8(0x0f);
  for (int64_t b = 0; b < k / qk4_0; ++b) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    const __m256i u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), low), _mm_and_si128(raw, low));
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    const int32_t isum = dot_u8(u, xv) - 8 * x[b].sum;
    acc = std::fma(fp16_to_fp32(w[b].d) * x[b].d, static_cast<float>(isum), acc);
  }
  return acc;
}

template <class W, float (*Dot)(const W*, const block_q8_act*, int64_t)>
void gemm_rows(int64_t k, const void* w, size_t w_stride, int64_t n, const void* x, size_t x_stride, int64_t m,
               float* y, size_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t i = 0; i < m; ++i) {
    const auto* xr = reinterpret_cast<const block_q8_act*>(xb + i * x_stride);
    for (int64_t j = 0; j < n; ++j) y[i * ldy + j] = Dot(reinterpret_cast<const W*>(wb + j * w_stride), xr, k);
  }
}

}  // namespace

void add_kv_quant_avx2(kernel_set& k) {
  k.gemm[static_cast<int>(ggml_type::q8_0)] = gemm_rows<block_q8_0, dot_q8_0>;
  k.gemm[static_cast<int>(ggml_type::q4_0)] = gemm_rows<block_q4_0, dot_q4_0>;
}

}  // namespace hearth::kernels

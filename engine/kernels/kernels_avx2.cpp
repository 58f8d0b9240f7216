// AVX2 + FMA + F16C kernels, for x86-64 CPUs without AVX-512 VNNI. Same recipes as the scalar
// twins in kernels_ref.cpp, so results are identical bit for bit; only the instruction mix
// differs (no vpdpbusd: 8-bit products go through vpmaddubsw + vpmaddwd).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/attend_grouped.h"
#include "kernels/exp_steps.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "kernels/packed_avx2.h"
#include "kernels/quant_blocks.h"

namespace hearth::kernels {

namespace {

// hsum_lanes<16> of the 16 lanes lo[0..7], hi[0..7]: lane i + lane i+8 first, then halves.
inline float hsum16(__m256 lo, __m256 hi) {
  const __m256 h8 = _mm256_add_ps(lo, hi);
  const __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
  const __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
  return _mm_cvtss_f32(_mm_add_ss(h2, _mm_movehdup_ps(h2)));
}

inline int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// --- activations -----------------------------------------------------------------------------

void quantize_q8(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q8_act*>(y);
  const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < k / 32; ++b) {
    __m256 v[4], m = _mm256_setzero_ps();
    int non_finite = 0;  // lanes of inf or NaN: not-less-than infinity, unordered
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(x + 32 * b + 8 * i);
      const __m256 a = _mm256_and_ps(v[i], sign_mask);
      non_finite |= _mm256_movemask_ps(_mm256_cmp_ps(a, _mm256_set1_ps(__builtin_inff()), _CMP_NLT_UQ));
      m = _mm256_max_ps(m, a);
    }
    if (non_finite) {
      set_non_finite(out[b]);
      continue;
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float id = amax != 0 ? 127.0f / amax : 0.0f;
    out[b].d = fp16_to_fp32(fp32_to_fp16(amax / 127.0f));
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4], sum = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i) {
      q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid));  // round half to even
      sum = _mm256_add_epi32(sum, q[i]);
    }
    // int32 -> int8 in element order: packs interleave 128-bit lanes, the permute restores it.
    const __m256i a = _mm256_packs_epi32(q[0], q[1]);
    const __m256i c = _mm256_packs_epi32(q[2], q[3]);
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, c), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[b].qs), bytes);
    out[b].sum = hsum_i32(sum);
  }
}

// quantize_row_q8_k_ref's sequence (see kernels_avx512.cpp's quantize_q8_k).
void quantize_q8_k(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q8_k_act*>(y);
  const __m256 sign_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < k / qk_k; ++b, x += qk_k) {
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 32; ++i) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + 8 * i), sign_mask), m);
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    block_q8_k_act& o = out[b];
    if (amax == 0) {
      std::memset(&o, 0, sizeof o);
      continue;
    }
    int first = 0;
    for (int i = 0; i < 32; ++i) {
      const __m256 hit = _mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + 8 * i), sign_mask), _mm256_set1_ps(amax), _CMP_EQ_OQ);
      const int bits = _mm256_movemask_ps(hit);
      if (bits) {
        first = 8 * i + __builtin_ctz(bits);
        break;
      }
    }
    const float iscale = -127.0f / x[first];
    const __m256 vis = _mm256_set1_ps(iscale);
    for (int i = 0; i < 16; ++i) {
      const __m256i q0 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16 * i), vis)), _mm256_set1_epi32(127));
      const __m256i q1 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16 * i + 8), vis)), _mm256_set1_epi32(127));
      // int32 -> int8 in element order (packs interleave 128-bit lanes, the permute restores it).
      const __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xd8);
      const __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o.qs + 16 * i), bytes);
      o.bsums[i] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q0, q1)));
    }
    o.d = 1.0f / iscale;
  }
}

void to_f16(const float* x, void* y, int64_t k) {
  auto* out = static_cast<uint16_t*>(y);
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < k; ++i) out[i] = fp32_to_fp16(x[i]);
}

// --- float weights (recipe L16) ----------------------------------------------------------------

inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
// BF16 is the top half of an FP32: widening and shifting is exact.
struct bf16 {
  uint16_t bits;
};
inline __m256 load8(const bf16* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

template <class T>
void gemm_l16(int64_t k, const void* w, size_t w_stride, int64_t n, const void* x, size_t x_stride, int64_t m,
              float* y, size_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t i = 0; i < m; ++i) {
    const T* xr = reinterpret_cast<const T*>(xb + i * x_stride);
    for (int64_t j = 0; j < n; ++j) {
      const T* wr = reinterpret_cast<const T*>(wb + j * w_stride);
      __m256 lo = _mm256_setzero_ps(), hi = lo;  // lanes 0..7 and 8..15 of the 16-lane recipe
      for (int64_t e = 0; e < k; e += 16) {
        lo = _mm256_fmadd_ps(load8(wr + e), load8(xr + e), lo);
        hi = _mm256_fmadd_ps(load8(wr + e + 8), load8(xr + e + 8), hi);
      }
      y[i * ldy + j] = hsum16(lo, hi);
    }
  }
}


// --- attention over the F16 cache (recipe G64) ---------------------------------------------------

float dot_f16(const uint16_t* q, const uint16_t* k, int64_t n) {
  const int64_t np = n & ~int64_t{63};
  double s = 0;
  if (np > 0) {
    __m256 a[4][2];
    for (auto& acc : a) acc[0] = acc[1] = _mm256_setzero_ps();
    for (int64_t i = 0; i < np; i += 64) {
      for (int j = 0; j < 4; ++j) {
        a[j][0] = _mm256_fmadd_ps(load8(q + i + 16 * j), load8(k + i + 16 * j), a[j][0]);
        a[j][1] = _mm256_fmadd_ps(load8(q + i + 16 * j + 8), load8(k + i + 16 * j + 8), a[j][1]);
      }
    }
    const __m256 lo = _mm256_add_ps(_mm256_add_ps(a[0][0], a[2][0]), _mm256_add_ps(a[1][0], a[3][0]));
    const __m256 hi = _mm256_add_ps(_mm256_add_ps(a[0][1], a[2][1]), _mm256_add_ps(a[1][1], a[3][1]));
    s = hsum16(lo, hi);
  }
  for (int64_t i = np; i < n; ++i) s += static_cast<double>(fp16_to_fp32(q[i]) * fp16_to_fp32(k[i]));
  return static_cast<float>(s);
}

void mad_f16(uint16_t* y, const uint16_t* v, float a, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 r = _mm256_fmadd_ps(load8(v + i), va, load8(y + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < n; ++i) y[i] = fp32_to_fp16(std::fma(fp16_to_fp32(v[i]), a, fp16_to_fp32(y[i])));
}

void scale_f16(uint16_t* y, float a, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 r = _mm256_mul_ps(load8(y + i), va);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < n; ++i) y[i] = fp32_to_fp16(fp16_to_fp32(y[i]) * a);
}

// exp_steps::exp on 4 lanes: x (4 floats, clamped) in double; see exp_steps.h for the steps
// and why every set gets the same bits.
inline __m128 exp_steps4(__m128 xf) {
  namespace e = exp_steps;
  const __m256d x = _mm256_cvtps_pd(xf);
  const __m256d magic = _mm256_set1_pd(e::round_magic);
  const __m256d shifted = _mm256_add_pd(_mm256_mul_pd(x, _mm256_set1_pd(e::log2e)), magic);
  const __m256d n = _mm256_sub_pd(shifted, magic);
  __m256d r = _mm256_sub_pd(x, _mm256_mul_pd(n, _mm256_set1_pd(e::ln2_hi)));
  r = _mm256_sub_pd(r, _mm256_mul_pd(n, _mm256_set1_pd(e::ln2_lo)));
  __m256d p = _mm256_set1_pd(e::inv_fact[0]);
  for (int k = 1; k < 9; ++k) p = _mm256_add_pd(_mm256_mul_pd(p, r), _mm256_set1_pd(e::inv_fact[k]));
  p = _mm256_add_pd(_mm256_mul_pd(p, r), _mm256_set1_pd(1.0));
  p = _mm256_add_pd(_mm256_mul_pd(p, r), _mm256_set1_pd(1.0));
  // The low bits of `shifted` are n; plus the bias, into the exponent field.
  const __m256i bits = _mm256_slli_epi64(_mm256_add_epi64(_mm256_castpd_si256(shifted), _mm256_set1_epi64x(1023)), 52);
  return _mm256_cvtpd_ps(_mm256_mul_pd(p, _mm256_castsi256_pd(bits)));
}

// exp_steps::exp on 8 lanes. max/min return their second operand for a NaN, so the clamps keep
// NaN as the scalar steps do (and NaN stays NaN through the rest).
inline __m256 exp_steps8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(exp_steps::lo), x);
  x = _mm256_min_ps(_mm256_set1_ps(exp_steps::hi), x);
  return _mm256_set_m128(exp_steps4(_mm256_extractf128_ps(x, 1)), exp_steps4(_mm256_castps256_ps128(x)));
}

void silu_mul(float* gate, const float* up, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = exp_steps8(_mm256_xor_ps(g, neg));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  exp_steps::silu_mul_from(gate, up, i, n);
}

// The online softmax's steps through `count` (1..16) scores sc in position order, from the
// running maximum m: a score above the maximum raises it (its bit in the result) and has weight
// exp(old - new), any other exp(score - max). The exps 8 at a time into w[0, 16).
inline uint32_t online_weights(const float* sc, int count, float& m, float* w) {
  alignas(32) float arg[16] = {};
  uint32_t raised = 0;
  for (int t = 0; t < count; ++t) {
    if (sc[t] > m) {
      arg[t] = m - sc[t];
      m = sc[t];
      raised |= 1u << t;
    } else {
      arg[t] = sc[t] - m;
    }
  }
  _mm256_storeu_ps(w, exp_steps8(_mm256_load_ps(arg)));
  _mm256_storeu_ps(w + 8, exp_steps8(_mm256_load_ps(arg + 8)));
  return raised;
}

// kernel_set::softmax_rows_f32: the steps by online_weights, then the accumulators in registers
// (accumulate_head_f32).
void softmax_rows_f32(const float* s, int count, float* m, float* sum, float* acc, const float* v, int64_t hd) {
  alignas(32) float w[16];
  const uint32_t raised = online_weights(s, count, *m, w);
  *sum = softmax_sum(*sum, w, raised, count);
  accumulate_head_f32<v256>(acc, v, hd, w, raised, count);
}

// attend_heads_ref's sequence over heads sharing a KV head, as the AVX-512 set's attend_nv does
// it with 8-lane vectors: 16 positions at a time, the block's key and value rows converted to
// floats once for all heads; per head its 16 scores (recipe G64, the lanes 0-7 and 8-15 of each
// 16-element chunk in two vectors, summed by hsum16 as dot_f16 does), the online softmax's exp
// arguments in position order and their exps 8 at a time; then each head's F16 accumulators, 64
// elements at a time in registers across the 16 positions. The same operations on the same
// values as position by position, so the same bits as the reference. Positions from `first`;
// soft-capped scores through the same std::tanh.
template <int NV>
void attend_nv(const uint16_t* q, int64_t heads, const uint16_t* const* keys, const uint16_t* const* values,
               int32_t block_size, int64_t first, int64_t n, float scale, float cap, float* out) {
  constexpr int max_heads = 16, span = 16, hd = 16 * NV;
  alignas(32) float qf[max_heads][hd];
  alignas(32) uint16_t acc[max_heads][hd];
  alignas(32) float kf[span][hd], vf[span][hd];  // the block's rows as floats
  alignas(32) float weight[max_heads][span];     // each position's exp
  uint32_t raised[max_heads];                    // bit t: position t raised the head's maximum
  float mx[max_heads], sum[max_heads];
  for (int64_t h = 0; h < heads; ++h) {
    for (int i = 0; i < hd; i += 8) _mm256_store_ps(qf[h] + i, load8(q + h * hd + i));
    std::memset(acc[h], 0, sizeof acc[h]);
    mx[h] = -INFINITY;
    sum[h] = 0.0f;
  }
  if (cap > 0) scale /= cap;
  for (int64_t t0 = first; t0 < n; t0 += span) {
    const int count = static_cast<int>(std::min<int64_t>(span, n - t0));
    for (int t = 0; t < count; ++t) {
      const int64_t p = t0 + t;
      const uint16_t* k = keys[p / block_size] + (p % block_size) * hd;
      const uint16_t* v = values[p / block_size] + (p % block_size) * hd;
      for (int i = 0; i < hd; i += 8) {
        _mm256_store_ps(kf[t] + i, load8(k + i));
        _mm256_store_ps(vf[t] + i, load8(v + i));
      }
    }
    for (int64_t h = 0; h < heads; ++h) {
      alignas(32) float sc[span];
      for (int t = 0; t < count; ++t) {
        __m256 a[4][2];
        for (auto& c : a) c[0] = c[1] = _mm256_setzero_ps();
        for (int c = 0; c < NV; ++c) {
          a[c % 4][0] = _mm256_fmadd_ps(_mm256_load_ps(qf[h] + 16 * c), _mm256_load_ps(kf[t] + 16 * c), a[c % 4][0]);
          a[c % 4][1] = _mm256_fmadd_ps(_mm256_load_ps(qf[h] + 16 * c + 8), _mm256_load_ps(kf[t] + 16 * c + 8), a[c % 4][1]);
        }
        const __m256 lo = _mm256_add_ps(_mm256_add_ps(a[0][0], a[2][0]), _mm256_add_ps(a[1][0], a[3][0]));
        const __m256 hi = _mm256_add_ps(_mm256_add_ps(a[0][1], a[2][1]), _mm256_add_ps(a[1][1], a[3][1]));
        // dot_f16 returns the float of a double that holds this float: the same value.
        sc[t] = hsum16(lo, hi) * scale;
        if (cap > 0) sc[t] = cap * std::tanh(sc[t]);
      }
      raised[h] = online_weights(sc, count, mx[h], weight[h]);
      sum[h] = softmax_sum(sum[h], weight[h], raised[h], count);
    }
    // The F16 accumulators, 64 elements (8 vectors) of one head at a time.
    for (int64_t h = 0; h < heads; ++h) {
      for (int c0 = 0; c0 < hd; c0 += 64) {
        __m128i ah[8];
        for (int c = 0; c < 8; ++c) ah[c] = _mm_load_si128(reinterpret_cast<const __m128i*>(acc[h] + c0 + 8 * c));
        for (int t = 0; t < count; ++t) {
          float w = weight[h][t];
          if (raised[h] >> t & 1u) {
            const __m256 vms = _mm256_set1_ps(w);
            for (auto& x : ah) x = _mm256_cvtps_ph(_mm256_mul_ps(_mm256_cvtph_ps(x), vms), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            w = 1.0f;
          }
          const __m256 vs = _mm256_set1_ps(w);
          for (int c = 0; c < 8; ++c) {
            ah[c] = _mm256_cvtps_ph(_mm256_fmadd_ps(_mm256_load_ps(vf[t] + c0 + 8 * c), vs, _mm256_cvtph_ps(ah[c])),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
          }
        }
        for (int c = 0; c < 8; ++c) _mm_store_si128(reinterpret_cast<__m128i*>(acc[h] + c0 + 8 * c), ah[c]);
      }
    }
  }
  for (int64_t h = 0; h < heads; ++h) {
    const __m256 inv = _mm256_set1_ps(1.0f / sum[h]);
    for (int i = 0; i < hd; i += 8) {
      _mm256_storeu_ps(out + h * hd + i,
                       _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(acc[h] + i))), inv));
    }
  }
}

// kernel_set::attend: attend_nv where attend_grouped has a kernel, else the reference path.
void attend(const kernel_set& ks, const uint16_t* q, int64_t heads, int64_t hd, const uint16_t* const* keys,
            const uint16_t* const* values, int32_t block_size, int64_t first, int64_t n, float scale, float cap,
            float* out) {
  const bool grouped = attend_grouped(heads, hd, [&](auto nv) {
    attend_nv<decltype(nv)::value>(q, heads, keys, values, block_size, first, n, scale, cap, out);
  });
  if (!grouped) attend_heads_ref(ks, q, heads, hd, keys, values, block_size, first, n, scale, cap, out);
}

}  // namespace

const kernel_set* avx2() {
  static const kernel_set ks = [] {
    kernel_set k = scalar();
    k.name = "avx2";
    k.convert[static_cast<int>(act_format::q8)] = quantize_q8;
    k.convert[static_cast<int>(act_format::q8_k)] = quantize_q8_k;
    k.convert[static_cast<int>(act_format::f16)] = to_f16;
    k.gemm[static_cast<int>(ggml_type::f32)] = gemm_l16<float>;
    k.gemm[static_cast<int>(ggml_type::f16)] = gemm_l16<uint16_t>;
    k.gemm[static_cast<int>(ggml_type::bf16)] = gemm_l16<bf16>;
    add_quants_avx2(k);
    add_kquants_avx2(k);
    add_kv_quant_avx2(k);
    k.dot_f16 = dot_f16;
    k.mad_f16 = mad_f16;
    k.scale_f16 = scale_f16;
    k.silu_mul = silu_mul;
    k.attend = attend;
    k.softmax_rows_f32 = softmax_rows_f32;
    return k;
  }();
  return &ks;
}

}  // namespace hearth::kernels

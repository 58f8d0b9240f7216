// AVX-512 (F, BW, VL, DQ) + VNNI kernels. Each computes exactly the recipe of its scalar twin in
// kernels_ref.cpp, so results agree with the reference bit for bit (tests/engine/kernels_test).
// Built with -mavx512* flags; chosen at run time only on CPUs that have them (dispatch.cpp).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/attend_grouped.h"
#include "kernels/exp_steps.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "kernels/packed_avx2.h"
#include "kernels/packed_avx512.h"
#include "kernels/quant_blocks.h"

namespace hearth::kernels {

namespace {

// Pairwise halving sum of 16 lanes, the order of the reference's hsum_lanes<16>.
inline float hsum16(__m512 v) {
  __m256 h8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 h4 = _mm_add_ps(_mm256_castps256_ps128(h8), _mm256_extractf128_ps(h8, 1));
  __m128 h2 = _mm_add_ps(h4, _mm_movehl_ps(h4, h4));
  __m128 h1 = _mm_add_ss(h2, _mm_movehdup_ps(h2));
  return _mm_cvtss_f32(h1);
}

// --- activations -----------------------------------------------------------------------------

void quantize_q8(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q8_act*>(y);
  const __m512 sign_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < k / 32; ++b) {
    const __m512 v0 = _mm512_loadu_ps(x + 32 * b), v1 = _mm512_loadu_ps(x + 32 * b + 16);
    const __m512 a0 = _mm512_and_ps(v0, sign_mask), a1 = _mm512_and_ps(v1, sign_mask);
    // Not-less-than infinity, unordered: true for inf and NaN.
    const __m512 inf = _mm512_set1_ps(__builtin_inff());
    if (_mm512_cmp_ps_mask(a0, inf, _CMP_NLT_UQ) | _mm512_cmp_ps_mask(a1, inf, _CMP_NLT_UQ)) {
      set_non_finite(out[b]);
      continue;
    }
    const __m512 m = _mm512_max_ps(a0, a1);
    const float amax = _mm512_reduce_max_ps(m);
    const float id = amax != 0 ? 127.0f / amax : 0.0f;
    out[b].d = fp16_to_fp32(fp32_to_fp16(amax / 127.0f));
    const __m512 vid = _mm512_set1_ps(id);
    // cvtps2dq rounds to nearest even under the default MXCSR mode, as nearbyint does.
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].qs), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].qs + 16), _mm512_cvtepi32_epi8(q1));
    out[b].sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

// quantize_row_q8_k_ref's sequence: the first element of largest magnitude sets
// iscale = -127 / it; q = min(127, round-half-even(iscale * x)); 16-element sums; d = 1 / iscale.
void quantize_q8_k(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q8_k_act*>(y);
  const __m512 sign_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < k / qk_k; ++b, x += qk_k) {
    __m512 m = _mm512_setzero_ps();
    // max(|v|, m) keeps m where |v| is NaN, as the scalar comparison skips it.
    for (int i = 0; i < 16; ++i) m = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(x + 16 * i), sign_mask), m);
    const float amax = _mm512_reduce_max_ps(m);
    block_q8_k_act& o = out[b];
    if (amax == 0) {
      std::memset(&o, 0, sizeof o);
      continue;
    }
    int first = 0;
    for (int i = 0; i < 16; ++i) {
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_loadu_ps(x + 16 * i), sign_mask), _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (hit) {
        first = 16 * i + __builtin_ctz(hit);
        break;
      }
    }
    const float iscale = -127.0f / x[first];
    const __m512 vis = _mm512_set1_ps(iscale);
    for (int i = 0; i < 16; ++i) {
      const __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * i), vis)), _mm512_set1_epi32(127));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o.qs + 16 * i), _mm512_cvtepi32_epi8(q));
      o.bsums[i] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
    o.d = 1.0f / iscale;
  }
}

void to_f16(const float* x, void* y, int64_t k) {
  auto* out = static_cast<uint16_t*>(y);
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < k; ++i) out[i] = fp32_to_fp16(x[i]);
}

// Round to nearest even by integer arithmetic (as fp32_to_bf16 does, NaNs quieted), not
// vcvtneps2bf16, which flushes denormal inputs to zero.
void to_bf16(const float* x, void* y, int64_t k) {
  auto* out = static_cast<uint16_t*>(y);
  int64_t i = 0;
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  for (; i + 16 <= k; i += 16) {
    const __m512i v = _mm512_loadu_si512(x + i);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(v, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(v, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
    const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(v, 16), _mm512_set1_epi32(64));
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(v, abs_mask), inf);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet)));
  }
  for (; i < k; ++i) out[i] = fp32_to_bf16(x[i]);
}

// --- float weights (recipe L16) ----------------------------------------------------------------

inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 load16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
// BF16 is the top half of an FP32: widening and shifting is exact.
struct bf16 {
  uint16_t bits;
};
inline __m512 load16(const bf16* p) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

// R weight rows by C activation rows: one 16-lane accumulator per pair, lanes filled by FMA.
template <class T, int R, int C>
void l16_tile(int64_t k, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* y, size_t ldy) {
  __m512 acc[R][C];
  for (auto& row : acc)
    for (auto& a : row) a = _mm512_setzero_ps();
  for (int64_t e = 0; e < k; e += 16) {
    __m512 xv[C];
    for (int c = 0; c < C; ++c) xv[c] = load16(reinterpret_cast<const T*>(x + c * x_stride) + e);
    for (int r = 0; r < R; ++r) {
      const __m512 wv = load16(reinterpret_cast<const T*>(w + r * w_stride) + e);
      for (int c = 0; c < C; ++c) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) y[c * ldy + r] = hsum16(acc[r][c]);
}

// Tiles of 4 x 4 (each loaded vector feeds four FMAs), 4 x 1 for single rows.
template <class T, int C>
void l16_rows(int64_t k, const uint8_t* w, size_t w_stride, int64_t n, const uint8_t* x, size_t x_stride, float* y,
              size_t ldy) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) l16_tile<T, 4, C>(k, w + j * w_stride, w_stride, x, x_stride, y + j, ldy);
  for (; j < n; ++j) l16_tile<T, 1, C>(k, w + j * w_stride, w_stride, x, x_stride, y + j, ldy);
}

template <class T>
void gemm_l16(int64_t k, const void* w, size_t w_stride, int64_t n, const void* x, size_t x_stride, int64_t m,
              float* y, size_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) l16_rows<T, 4>(k, wb, w_stride, n, xb + i * x_stride, x_stride, y + i * ldy, ldy);
  for (; i < m; ++i) l16_rows<T, 1>(k, wb, w_stride, n, xb + i * x_stride, x_stride, y + i * ldy, ldy);
}


// --- attention over the F16 cache -------------------------------------------------------------

// Recipe G64: four 16-lane accumulators per 64 elements, reduced as a0+a2, a1+a3, then summed.
float dot_f16(const uint16_t* q, const uint16_t* k, int64_t n) {
  const int64_t np = n & ~int64_t{63};
  double s = 0;
  if (np > 0) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = 0; i < np; i += 64) {
      a0 = _mm512_fmadd_ps(load16(q + i), load16(k + i), a0);
      a1 = _mm512_fmadd_ps(load16(q + i + 16), load16(k + i + 16), a1);
      a2 = _mm512_fmadd_ps(load16(q + i + 32), load16(k + i + 32), a2);
      a3 = _mm512_fmadd_ps(load16(q + i + 48), load16(k + i + 48), a3);
    }
    s = hsum16(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3)));
  }
  for (int64_t i = np; i < n; ++i) s += static_cast<double>(fp16_to_fp32(q[i]) * fp16_to_fp32(k[i]));
  return static_cast<float>(s);
}

void mad_f16(uint16_t* y, const uint16_t* v, float a, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 r = _mm512_fmadd_ps(load16(v + i), va, load16(y + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm512_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < n; ++i) y[i] = fp32_to_fp16(std::fma(fp16_to_fp32(v[i]), a, fp16_to_fp32(y[i])));
}

void scale_f16(uint16_t* y, float a, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 r = _mm512_mul_ps(load16(y + i), va);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), _mm512_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  for (; i < n; ++i) y[i] = fp32_to_fp16(fp16_to_fp32(y[i]) * a);
}

// exp_steps::exp on 8 lanes: x (8 floats, clamped) in double; see exp_steps.h for the steps
// and why every set gets the same bits.
inline __m256 exp_steps8(__m256 xf) {
  namespace e = exp_steps;
  const __m512d x = _mm512_cvtps_pd(xf);
  const __m512d magic = _mm512_set1_pd(e::round_magic);
  const __m512d shifted = _mm512_add_pd(_mm512_mul_pd(x, _mm512_set1_pd(e::log2e)), magic);
  const __m512d n = _mm512_sub_pd(shifted, magic);
  __m512d r = _mm512_sub_pd(x, _mm512_mul_pd(n, _mm512_set1_pd(e::ln2_hi)));
  r = _mm512_sub_pd(r, _mm512_mul_pd(n, _mm512_set1_pd(e::ln2_lo)));
  __m512d p = _mm512_set1_pd(e::inv_fact[0]);
  for (int k = 1; k < 9; ++k) p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(e::inv_fact[k]));
  p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(1.0));
  p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(1.0));
  // The low bits of `shifted` are n; plus the bias, into the exponent field.
  const __m512i bits = _mm512_slli_epi64(_mm512_add_epi64(_mm512_castpd_si512(shifted), _mm512_set1_epi64(1023)), 52);
  return _mm512_cvtpd_ps(_mm512_mul_pd(p, _mm512_castsi512_pd(bits)));
}

// exp_steps::exp on 16 lanes. max/min return their second operand for a NaN, so the clamps keep
// NaN as the scalar steps do (and NaN stays NaN through the rest).
inline __m512 exp_steps16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(exp_steps::lo), x);
  x = _mm512_min_ps(_mm512_set1_ps(exp_steps::hi), x);
  const __m256 low = exp_steps8(_mm512_castps512_ps256(x));
  const __m256 high = exp_steps8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(low)), _mm256_castps_pd(high), 1));
}

void silu_mul(float* gate, const float* up, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f), neg = _mm512_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 g = _mm512_loadu_ps(gate + i);
    const __m512 e = exp_steps16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(g), _mm512_castps_si512(neg))));
    _mm512_storeu_ps(gate + i, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_loadu_ps(up + i)));
  }
  exp_steps::silu_mul_from(gate, up, i, n);
}

// The 16 sums of hsum16(v[t]) for t < 16, as lanes t: the same additions as hsum16 of each (lane
// i + lane i+8, then + 4, + 2, + 1), done on all 16 vectors at once by a transposing tree.
inline __m512 hsum16x16(const __m512* v) {
  __m512 l1[8], l2[4], l3[2];
  for (int k = 0; k < 8; ++k) {  // lane i + lane i+8: vector 2k in lanes 0-7, 2k+1 in 8-15
    l1[k] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                          _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  for (int k = 0; k < 4; ++k) {  // + 4: 128-bit lane j holds vector 4k + j
    l2[k] = _mm512_add_ps(_mm512_shuffle_f32x4(l1[2 * k], l1[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                          _mm512_shuffle_f32x4(l1[2 * k], l1[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  }
  for (int k = 0; k < 2; ++k) {  // + 2: in 128-bit lane j, vector 8k + j, then 8k + 4 + j
    l3[k] = _mm512_add_ps(_mm512_shuffle_ps(l2[2 * k], l2[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                          _mm512_shuffle_ps(l2[2 * k], l2[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  // + 1: lane 4j + i holds vector 4i + j; put vector t in lane t.
  const __m512 sums = _mm512_add_ps(_mm512_shuffle_ps(l3[0], l3[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                    _mm512_shuffle_ps(l3[0], l3[1], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), sums);
}

// The F16 accumulators of heads h0..h0+G-1 (acc rows) through the block's `count` positions:
// G heads at once so their dependency chains (F16 -> float -> fma -> F16 per position) overlap.
template <int NV, int G>
inline void accumulate_heads(uint16_t (*acc)[16 * NV], const float (*vf)[16 * NV], const float (*weight)[16],
                             const uint32_t* raised, float* sum, int count) {
  __m256i ah[G][NV];
  for (int g = 0; g < G; ++g) {
    for (int c = 0; c < NV; ++c) ah[g][c] = _mm256_load_si256(reinterpret_cast<const __m256i*>(acc[g] + 16 * c));
  }
  for (int t = 0; t < count; ++t) {
    __m512 v[NV];
    for (int c = 0; c < NV; ++c) v[c] = _mm512_load_ps(vf[t] + 16 * c);
    for (int g = 0; g < G; ++g) {
      float ms = 1.0f, w = 1.0f;
      if (raised[g] >> t & 1u) {
        ms = weight[g][t];
        const __m512 vms = _mm512_set1_ps(ms);
        for (int c = 0; c < NV; ++c) {
          ah[g][c] = _mm512_cvtps_ph(_mm512_mul_ps(_mm512_cvtph_ps(ah[g][c]), vms), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        }
      } else {
        w = weight[g][t];
      }
      const __m512 vs = _mm512_set1_ps(w);
      for (int c = 0; c < NV; ++c) {
        ah[g][c] = _mm512_cvtps_ph(_mm512_fmadd_ps(v[c], vs, _mm512_cvtph_ps(ah[g][c])), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      }
      sum[g] = sum[g] * ms + w;
    }
  }
  for (int g = 0; g < G; ++g) {
    for (int c = 0; c < NV; ++c) _mm256_store_si256(reinterpret_cast<__m256i*>(acc[g] + 16 * c), ah[g][c]);
  }
}

// cap * tanh(s) for each lane of s (the reference's scalar std::tanh: the same bits).
inline __m512 soft_cap16(__m512 s, float cap) {
  alignas(64) float lane[16];
  _mm512_store_ps(lane, s);
  for (float& x : lane) x = cap * std::tanh(x);
  return _mm512_load_ps(lane);
}

// The online softmax's steps through one block's scores sc (lanes below count, `live`), from the
// running maximum m, without a branch per position. In position order the steps are: a score
// above the maximum raises it (bit t of `raised`) and has the argument old - new, any other has
// score - maximum. Here the maximum before each position is a prefix scan of "the later value if
// it is greater, else the earlier" (the steps' own rule, so ties and NaN scores, which never
// raise, keep the earlier value), shifted one lane; the arguments are the same subtractions of
// the same values, so the same bits. Dead lanes get argument 0. Returns the new maximum.
// x moved up by K lanes (lane t holds x[t - K]), lanes below K from `fill`.
template <int K>
inline __m512 lanes_up(__m512 x, __m512 fill) {
  return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(x), _mm512_castps_si512(fill), 16 - K));
}

inline float online_max_steps(__m512 sc, float m, __mmask16 live, int count, float* arg, uint32_t& raised) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  // NaN and dead lanes never raise: -inf in the scan.
  __m512 scan = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(sc, sc, _CMP_ORD_Q) & live, ninf, sc);
  const auto later_if_greater = [](__m512 earlier, __m512 later) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(later, earlier, _CMP_GT_OQ), earlier, later);
  };
  scan = later_if_greater(lanes_up<1>(scan, ninf), scan);
  scan = later_if_greater(lanes_up<2>(scan, ninf), scan);
  scan = later_if_greater(lanes_up<4>(scan, ninf), scan);
  scan = later_if_greater(lanes_up<8>(scan, ninf), scan);
  const __m512 vm = _mm512_set1_ps(m);
  const __m512 after = later_if_greater(vm, scan);  // the maximum after each position
  const __m512 before = lanes_up<1>(after, vm);
  const __mmask16 up = _mm512_cmp_ps_mask(sc, before, _CMP_GT_OQ) & live;
  const __m512 a = _mm512_mask_blend_ps(up, _mm512_sub_ps(sc, before), _mm512_sub_ps(before, sc));
  _mm512_store_ps(arg, _mm512_maskz_mov_ps(live, a));
  raised = up;
  return _mm512_cvtss_f32(_mm512_permutexvar_ps(_mm512_set1_epi32(count - 1), after));
}

// kernel_set::softmax_rows_f32: the steps' arguments by online_max_steps, their exps 16 at a
// time, then the accumulators in registers (accumulate_head_f32).
void softmax_rows_f32(const float* s, int count, float* m, float* sum, float* acc, const float* v, int64_t hd) {
  alignas(64) float arg[16], w[16];
  const __mmask16 live = static_cast<__mmask16>((1u << count) - 1u);
  uint32_t raised = 0;
  *m = online_max_steps(_mm512_maskz_loadu_ps(live, s), *m, live, count, arg, raised);
  _mm512_store_ps(w, exp_steps16(_mm512_load_ps(arg)));
  *sum = softmax_sum(*sum, w, raised, count);
  accumulate_head_f32<v512>(acc, v, hd, w, raised, count);
}

// attend_heads_ref's sequence over heads sharing a KV head, 16 positions at a time: the block's
// key and value rows converted to floats once for all heads; per head, its 16 scores (recipe
// G64's sums, reduced together by hsum16x16) and the online softmax's exp arguments in position
// order (exp(old - new) on a new maximum, else exp(s - max); online_max_steps); then the exps of
// all heads, four vectors in flight; then the F16 accumulators, several heads at a time, kept in
// registers across the 16 positions. The same operations on the same values as position by
// position, so the same bits as the reference. Positions from `first`; soft-capped scores
// through the same std::tanh, lane by lane.
template <int NV>
void attend_nv(const uint16_t* q, int64_t heads, const uint16_t* const* keys, const uint16_t* const* values,
               int32_t block_size, int64_t first, int64_t n, float scale, float cap, float* out) {
  constexpr int max_heads = 16, span = 16, hd = 16 * NV;
  constexpr int group = NV <= 4 ? 4 : NV <= 8 ? 2 : 1;  // heads accumulated together (registers)
  alignas(64) float qf[max_heads][hd];
  alignas(64) uint16_t acc[max_heads][hd];
  alignas(64) float kf[span][hd], vf[span][hd];  // the block's rows as floats
  alignas(64) float arg[max_heads][span];        // each position's exp argument
  alignas(64) float weight[max_heads][span];     // each position's exp
  uint32_t raised[max_heads];                    // bit t: position t raised the head's maximum
  float mx[max_heads], sum[max_heads];
  for (int64_t h = 0; h < heads; ++h) {
    for (int c = 0; c < NV; ++c) _mm512_store_ps(qf[h] + 16 * c, load16(q + h * hd + 16 * c));
    std::memset(acc[h], 0, sizeof acc[h]);
    mx[h] = -INFINITY;
    sum[h] = 0.0f;
  }
  const __m512 vscale = _mm512_set1_ps(cap > 0 ? scale / cap : scale);
  for (int64_t t0 = first; t0 < n; t0 += span) {
    const int count = static_cast<int>(std::min<int64_t>(span, n - t0));
    for (int t = 0; t < count; ++t) {
      const int64_t p = t0 + t;
      const uint16_t* k = keys[p / block_size] + (p % block_size) * hd;
      const uint16_t* v = values[p / block_size] + (p % block_size) * hd;
      for (int c = 0; c < NV; ++c) {
        _mm512_store_ps(kf[t] + 16 * c, load16(k + 16 * c));
        _mm512_store_ps(vf[t] + 16 * c, load16(v + 16 * c));
      }
    }
    const __mmask16 live = static_cast<__mmask16>((1u << count) - 1u);
    for (int64_t h = 0; h < heads; ++h) {
      // Scores: recipe G64 (16-element chunk c feeds accumulator c % 4), then the lanes' sum.
      __m512 part[span];
      for (int t = 0; t < span; ++t) {
        if (t >= count) {
          part[t] = _mm512_setzero_ps();
          continue;
        }
        __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        for (int c = 0; c < NV; ++c) a[c % 4] = _mm512_fmadd_ps(_mm512_load_ps(qf[h] + 16 * c), _mm512_load_ps(kf[t] + 16 * c), a[c % 4]);
        part[t] = _mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3]));
      }
      __m512 sc = _mm512_mul_ps(hsum16x16(part), vscale);
      if (cap > 0) sc = soft_cap16(sc, cap);
      // The exp arguments of the position-order steps (see online_max_steps), stored for the
      // exps below, which run for all heads together so that their dependency chains overlap.
      mx[h] = online_max_steps(sc, mx[h], live, count, arg[h], raised[h]);
    }
    int64_t h = 0;
    for (; h + 4 <= heads; h += 4) {  // four independent polynomial chains in flight
      const __m512 e0 = exp_steps16(_mm512_load_ps(arg[h])), e1 = exp_steps16(_mm512_load_ps(arg[h + 1]));
      const __m512 e2 = exp_steps16(_mm512_load_ps(arg[h + 2])), e3 = exp_steps16(_mm512_load_ps(arg[h + 3]));
      _mm512_store_ps(weight[h], e0);
      _mm512_store_ps(weight[h + 1], e1);
      _mm512_store_ps(weight[h + 2], e2);
      _mm512_store_ps(weight[h + 3], e3);
    }
    for (; h < heads; ++h) _mm512_store_ps(weight[h], exp_steps16(_mm512_load_ps(arg[h])));
    for (h = 0; h + group <= heads; h += group) {
      accumulate_heads<NV, group>(acc + h, vf, weight + h, raised + h, sum + h, count);
    }
    for (; h < heads; ++h) accumulate_heads<NV, 1>(acc + h, vf, weight + h, raised + h, sum + h, count);
  }
  for (int64_t h = 0; h < heads; ++h) {
    const __m512 inv = _mm512_set1_ps(1.0f / sum[h]);
    for (int c = 0; c < NV; ++c) {
      _mm512_storeu_ps(out + h * hd + 16 * c,
                       _mm512_mul_ps(_mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(acc[h] + 16 * c))), inv));
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

const kernel_set* avx512() {
  static const kernel_set ks = [] {
    kernel_set k = scalar();
    k.name = "avx512-vnni";
    k.convert[static_cast<int>(act_format::q8)] = quantize_q8;
    k.convert[static_cast<int>(act_format::q8_k)] = quantize_q8_k;
    k.convert[static_cast<int>(act_format::f16)] = to_f16;
    k.gemm[static_cast<int>(ggml_type::f32)] = gemm_l16<float>;
    k.gemm[static_cast<int>(ggml_type::f16)] = gemm_l16<uint16_t>;
    k.gemm[static_cast<int>(ggml_type::bf16)] = gemm_l16<bf16>;
    k.convert[static_cast<int>(act_format::bf16)] = to_bf16;
    add_quants_avx512(k);
    add_kquants_avx512(k);
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

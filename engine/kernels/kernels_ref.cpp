// The scalar reference kernel set: activation conversions, attention, and every type's reference
// matmul from the traits table (kernels/types/*.cpp). See recipes.h for what "recipe" means.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/exp_steps.h"
#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "kernels/quant_blocks.h"
#include "kernels/recipes.h"

namespace hearth::kernels {

namespace {

// Recipe "G64", for attention's q·k: four 16-lane accumulators over the first k & ~63 elements
// (accumulator a takes elements [i + 16a, i + 16a + 16) of each 64-element step), reduced as
// a0+a2, a1+a3, then their sum, then hsum_lanes<16>; the rest is added in double, one (exact)
// product at a time.
template <class T, float (*Load)(T)>
float dot_g64(const T* w, const T* x, int64_t k) {
  const int64_t np = k & ~int64_t{63};
  double s = 0;
  if (np > 0) {
    float acc[4][16] = {};
    for (int64_t i = 0; i < np; i += 64) {
      for (int a = 0; a < 4; ++a) {
        for (int l = 0; l < 16; ++l) {
          acc[a][l] = std::fma(Load(w[i + 16 * a + l]), Load(x[i + 16 * a + l]), acc[a][l]);
        }
      }
    }
    for (int l = 0; l < 16; ++l) {
      acc[0][l] += acc[2][l];
      acc[1][l] += acc[3][l];
    }
    for (int l = 0; l < 16; ++l) acc[0][l] += acc[1][l];
    s = hsum_lanes<16>(acc[0]);
  }
  for (int64_t i = np; i < k; ++i) s += static_cast<double>(Load(w[i]) * Load(x[i]));
  return static_cast<float>(s);
}

float load_f16(uint16_t v) { return fp16_to_fp32(v); }
float dot_attn_f16(const uint16_t* q, const uint16_t* k, int64_t n) { return dot_g64<uint16_t, load_f16>(q, k, n); }

void to_f16_ref(const float* x, void* y, int64_t k) {
  auto* out = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < k; ++i) out[i] = fp32_to_fp16(x[i]);
}

void to_bf16_ref(const float* x, void* y, int64_t k) {
  auto* out = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < k; ++i) out[i] = fp32_to_bf16(x[i]);
}

void mad_f16_ref(uint16_t* y, const uint16_t* v, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(std::fma(fp16_to_fp32(v[i]), a, fp16_to_fp32(y[i])));
}

void scale_f16_ref(uint16_t* y, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp32_to_fp16(fp16_to_fp32(y[i]) * a);
}

}  // namespace

// d = max|x| / 127 rounded to fp16 (kept as float); q = x * (127 / max|x|) rounded to nearest
// even (what llama.cpp's x86 quantizer computes); sum = the sum of q.
void quantize_row_q8_ref(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q8_act*>(y);
  for (int64_t b = 0; b < k / 32; ++b) {
    float amax = 0;
    bool finite = true;
    for (int j = 0; j < 32; ++j) {
      const float a = std::fabs(x[b * 32 + j]);
      finite &= a <= std::numeric_limits<float>::max();  // false for inf and NaN
      amax = std::max(amax, a);
    }
    if (!finite) {
      set_non_finite(out[b]);
      continue;
    }
    const float id = amax != 0 ? 127.0f / amax : 0.0f;
    out[b].d = fp16_to_fp32(fp32_to_fp16(amax / 127.0f));
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) {
      out[b].qs[j] = static_cast<int8_t>(std::nearbyint(x[b * 32 + j] * id));
      sum += out[b].qs[j];
    }
    out[b].sum = sum;
  }
}

// ggml's quantize_row_q8_K: d = -(the value of largest magnitude, with its sign) / 127, kept as
// float; q = min(127, round-half-even(x * (-127 / that value))); bsums = sums of 16 q.
void quantize_row_q8_k_ref(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q8_k_act*>(y);
  for (int64_t b = 0; b < k / qk_k; ++b) {
    const float* v = x + b * qk_k;
    float amax = 0, max = 0;
    for (int j = 0; j < qk_k; ++j) {
      if (std::fabs(v[j]) > amax) {
        amax = std::fabs(v[j]);
        max = v[j];
      }
    }
    block_q8_k_act& o = out[b];
    if (amax == 0) {
      std::memset(&o, 0, sizeof o);
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < qk_k; ++j) o.qs[j] = static_cast<int8_t>(std::min(127.0f, std::nearbyint(iscale * v[j])));
    for (int g = 0; g < qk_k / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += o.qs[16 * g + j];
      o.bsums[g] = static_cast<int16_t>(sum);
    }
    o.d = 1.0f / iscale;
  }
}

namespace {

void mad_f32_ref(float* y, const float* v, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::fma(v[i], a, y[i]);
}

void scale_f32_ref(float* y, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= a;
}

void softmax_rows_f32_ref(const float* s, int count, float* m, float* sum, float* acc, const float* v, int64_t hd) {
  for (int t = 0; t < count; ++t) {
    float ms = 1.0f, vs = 1.0f;
    if (s[t] > *m) {
      ms = exp_steps::exp(*m - s[t]);
      *m = s[t];
      scale_f32_ref(acc, ms, hd);
    } else {
      vs = exp_steps::exp(s[t] - *m);
    }
    mad_f32_ref(acc, v + t * hd, vs, hd);
    *sum = *sum * ms + vs;
  }
}

void silu_mul_ref(float* gate, const float* up, int64_t n) { exp_steps::silu_mul_from(gate, up, 0, n); }

}  // namespace

void attend_heads_ref(const kernel_set& ks, const uint16_t* q, int64_t heads, int64_t hd, const uint16_t* const* keys,
                      const uint16_t* const* values, int32_t block_size, int64_t first, int64_t n, float scale,
                      float cap, float* out) {
  uint16_t acc[1024];  // head dims are at most 1024 (hparams)
  if (cap > 0) scale /= cap;
  for (int64_t h = 0; h < heads; ++h) {
    const uint16_t* qh = q + h * hd;
    std::fill(acc, acc + hd, uint16_t{0});
    float m = -INFINITY, sum = 0.0f;
    for (int64_t t = first; t < n; ++t) {
      const uint16_t* k = keys[t / block_size] + (t % block_size) * hd;
      const uint16_t* v = values[t / block_size] + (t % block_size) * hd;
      float s = ks.dot_f16(qh, k, hd) * scale;
      if (cap > 0) s = cap * std::tanh(s);
      float ms = 1.0f, vs = 1.0f;
      if (s > m) {
        ms = exp_steps::exp(m - s);
        m = s;
        ks.scale_f16(acc, ms, hd);
      } else {
        vs = exp_steps::exp(s - m);
      }
      ks.mad_f16(acc, v, vs, hd);
      sum = sum * ms + vs;
    }
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < hd; ++j) out[h * hd + j] = fp16_to_fp32(acc[j]) * inv;
  }
}

const kernel_set& scalar() {
  static const kernel_set ks = [] {
    kernel_set k{};
    k.name = "scalar";
    k.convert[static_cast<int>(act_format::f16)] = to_f16_ref;
    k.convert[static_cast<int>(act_format::bf16)] = to_bf16_ref;
    k.convert[static_cast<int>(act_format::q8)] = quantize_row_q8_ref;
    k.convert[static_cast<int>(act_format::q8_k)] = quantize_row_q8_k_ref;
    for (const type_traits* t : all_type_traits()) k.gemm[static_cast<uint32_t>(t->type)] = t->gemm;
    k.dot_f16 = dot_attn_f16;
    k.mad_f16 = mad_f16_ref;
    k.scale_f16 = scale_f16_ref;
    k.softmax_rows_f32 = softmax_rows_f32_ref;
    k.silu_mul = silu_mul_ref;
    k.attend = attend_heads_ref;
    return k;
  }();
  return ks;
}

}  // namespace hearth::kernels

// Scalar reference kernels: plain loops, the truth the SIMD kernels are tested against.
//
// Each dot product follows a fixed *recipe*: which lanes accumulate which products, in which order,
// and how the lanes are summed at the end. The recipes are the ones ggml's CPU backend uses on
// x86 (tinyBLAS for whole-vector rows, ggml_vec_dot otherwise), so results agree with llama.cpp to
// float rounding; and since SIMD twins implement the same recipes, they agree with this file bit
// for bit. A row's result depends only on its own inputs, never on the tile it was computed in.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "kernels/quant_blocks.h"

namespace hearth::kernels {

namespace {

// Pairwise halving sum of N lanes: lane i + lane i+N/2, and so on down to one (what a vector
// horizontal add does).
template <int N>
float hsum_lanes(float* lanes) {
  for (int w = N / 2; w >= 1; w /= 2) {
    for (int l = 0; l < w; ++l) lanes[l] += lanes[l + w];
  }
  return lanes[0];
}

// Recipe "L16" (k % 16 == 0): one 16-lane accumulator, lane l takes elements i with i % 16 == l
// by fused multiply-add, then hsum_lanes<16>. Other k: float products summed in double, in order.
template <class T, float (*Load)(T)>
float dot_recipe(const T* w, const T* x, int64_t k) {
  if (k % 16 == 0) {
    float acc[16] = {};
    for (int64_t i = 0; i < k; i += 16) {
      for (int l = 0; l < 16; ++l) acc[l] = std::fma(Load(w[i + l]), Load(x[i + l]), acc[l]);
    }
    return hsum_lanes<16>(acc);
  }
  double s = 0;
  for (int64_t i = 0; i < k; ++i) s += static_cast<double>(Load(w[i]) * Load(x[i]));
  return static_cast<float>(s);
}

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

float load_f32(float v) { return v; }
float load_f16(uint16_t v) { return fp16_to_fp32(v); }
float load_bf16(uint16_t v) { return bf16_to_fp32(v); }

float dot_f32(const float* w, const float* x, int64_t k) { return dot_recipe<float, load_f32>(w, x, k); }
float dot_f16(const uint16_t* w, const uint16_t* x, int64_t k) { return dot_recipe<uint16_t, load_f16>(w, x, k); }
float dot_bf16(const uint16_t* w, const uint16_t* x, int64_t k) { return dot_recipe<uint16_t, load_bf16>(w, x, k); }
float dot_attn_f16(const uint16_t* q, const uint16_t* k, int64_t n) { return dot_g64<uint16_t, load_f16>(q, k, n); }

// Recipe "Q8S" for 32-element blocks of 8-bit products: each block's dot product is exact in
// int32, then acc = fma(dw * dx, isum, acc) in float, block after block. Any SIMD layout that
// forms the exact integer sum (lanes per row, lanes per activation row, any order of the
// integer adds) gives the same bits. `w_at(b, j)` is weight element j of block b as an int.
template <class WBlock, class Unpack>
float dot_q8s(const WBlock* w, const block_q8_act* x, int64_t k, Unpack w_at) {
  float acc = 0;
  for (int64_t b = 0; b < k / 32; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < 32; ++j) isum += w_at(w[b], j) * x[b].qs[j];
    acc = std::fma(fp16_to_fp32(w[b].d) * x[b].d, static_cast<float>(isum), acc);
  }
  return acc;
}

float dot_q8_0(const block_q8_0* w, const block_q8_act* x, int64_t k) {
  return dot_q8s(w, x, k, [](const block_q8_0& b, int j) { return int{b.qs[j]}; });
}

float dot_q4_0(const block_q4_0* w, const block_q8_act* x, int64_t k) {
  return dot_q8s(w, x, k, [](const block_q4_0& b, int j) {
    return (j < 16 ? (b.qs[j] & 0x0f) : (b.qs[j - 16] >> 4)) - 8;
  });
}

template <class W, class X, float (*Dot)(const W*, const X*, int64_t)>
void gemm_ref(int64_t k, const void* w, size_t w_stride, int64_t n, const void* x, size_t x_stride,
              int64_t m, float* y, size_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t i = 0; i < m; ++i) {
    const X* xr = reinterpret_cast<const X*>(xb + i * x_stride);
    for (int64_t j = 0; j < n; ++j) {
      y[i * ldy + j] = Dot(reinterpret_cast<const W*>(wb + j * w_stride), xr, k);
    }
  }
}

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

void dequant_f32(const void* w, float* y, int64_t k) { std::memcpy(y, w, k * sizeof(float)); }

void dequant_f16(const void* w, float* y, int64_t k) {
  const auto* p = static_cast<const uint16_t*>(w);
  for (int64_t i = 0; i < k; ++i) y[i] = fp16_to_fp32(p[i]);
}

void dequant_bf16(const void* w, float* y, int64_t k) {
  const auto* p = static_cast<const uint16_t*>(w);
  for (int64_t i = 0; i < k; ++i) y[i] = bf16_to_fp32(p[i]);
}

void dequant_q8_0(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_q8_0*>(w);
  for (int64_t i = 0; i < k / qk8_0; ++i) {
    float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < qk8_0; ++j) y[i * qk8_0 + j] = b[i].qs[j] * d;
  }
}

void dequant_q4_0(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_q4_0*>(w);
  for (int64_t i = 0; i < k / qk4_0; ++i) {
    float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < qk4_0 / 2; ++j) {
      y[i * qk4_0 + j] = ((b[i].qs[j] & 0x0f) - 8) * d;
      y[i * qk4_0 + j + qk4_0 / 2] = ((b[i].qs[j] >> 4) - 8) * d;
    }
  }
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

void attend_heads_ref(const kernel_set& ks, const uint16_t* q, int64_t heads, int64_t hd, const uint16_t* const* keys,
                      const uint16_t* const* values, int32_t block_size, int64_t n, float scale, float* out) {
  uint16_t acc[1024];  // head dims are at most 1024 (hparams)
  for (int64_t h = 0; h < heads; ++h) {
    const uint16_t* qh = q + h * hd;
    std::fill(acc, acc + hd, uint16_t{0});
    float m = -INFINITY, sum = 0.0f;
    for (int64_t t = 0; t < n; ++t) {
      const uint16_t* k = keys[t / block_size] + (t % block_size) * hd;
      const uint16_t* v = values[t / block_size] + (t % block_size) * hd;
      const float s = ks.dot_f16(qh, k, hd) * scale;
      float ms = 1.0f, vs = 1.0f;
      if (s > m) {
        ms = std::exp(m - s);
        m = s;
        ks.scale_f16(acc, ms, hd);
      } else {
        vs = std::exp(s - m);
      }
      ks.mad_f16(acc, v, vs, hd);
      sum = sum * ms + vs;
    }
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < hd; ++j) out[h * hd + j] = fp16_to_fp32(acc[j]) * inv;
  }
}

const kernel_set& scalar() {
  static const kernel_set ks = {
      .name = "scalar",
      .to_q8 = quantize_row_q8_ref,
      .to_f16 = to_f16_ref,
      .to_bf16 = to_bf16_ref,
      .gemm_f32 = gemm_ref<float, float, dot_f32>,
      .gemm_f16 = gemm_ref<uint16_t, uint16_t, dot_f16>,
      .gemm_bf16 = gemm_ref<uint16_t, uint16_t, dot_bf16>,
      .gemm_q8_0 = gemm_ref<block_q8_0, block_q8_act, dot_q8_0>,
      .gemm_q4_0 = gemm_ref<block_q4_0, block_q8_act, dot_q4_0>,
      .gemm_q8_0_packed = nullptr,
      .gemm_q4_0_packed = nullptr,
      .dot_f16 = dot_attn_f16,
      .mad_f16 = mad_f16_ref,
      .scale_f16 = scale_f16_ref,
      .attend = attend_heads_ref,
  };
  return ks;
}

dequant_fn dequant_for(ggml_type t) {
  switch (t) {
    case ggml_type::f32: return dequant_f32;
    case ggml_type::f16: return dequant_f16;
    case ggml_type::bf16: return dequant_bf16;
    case ggml_type::q8_0: return dequant_q8_0;
    case ggml_type::q4_0: return dequant_q4_0;
    default: return nullptr;
  }
}

}  // namespace hearth::kernels

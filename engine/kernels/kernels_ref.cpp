// Scalar reference kernels: plain loops, the truth the SIMD kernels are tested against.
#include <cmath>
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/kernels.h"
#include "kernels/quant_blocks.h"

namespace hearth::kernels {

namespace {

void to_f16_ref(const float* x, void* y, int64_t k) {
  auto* out = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < k; ++i) out[i] = fp32_to_fp16(x[i]);
}

void to_bf16_ref(const float* x, void* y, int64_t k) {
  auto* out = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < k; ++i) out[i] = fp32_to_bf16(x[i]);
}

float dot_f32(const float* w, const float* x, int64_t k) {
  double s = 0;
  for (int64_t i = 0; i < k; ++i) s += static_cast<double>(w[i]) * x[i];
  return static_cast<float>(s);
}

float dot_f16(const uint16_t* w, const uint16_t* x, int64_t k) {
  double s = 0;
  for (int64_t i = 0; i < k; ++i) s += static_cast<double>(fp16_to_fp32(w[i])) * fp16_to_fp32(x[i]);
  return static_cast<float>(s);
}

float dot_bf16(const uint16_t* w, const uint16_t* x, int64_t k) {
  double s = 0;
  for (int64_t i = 0; i < k; ++i) s += static_cast<double>(bf16_to_fp32(w[i])) * bf16_to_fp32(x[i]);
  return static_cast<float>(s);
}

float dot_q8_0(const block_q8_0* w, const block_q8_0* x, int64_t k) {
  float s = 0;
  for (int64_t b = 0; b < k / qk8_0; ++b) {
    int sum = 0;
    for (int j = 0; j < qk8_0; ++j) sum += w[b].qs[j] * x[b].qs[j];
    s += static_cast<float>(sum) * (fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d));
  }
  return s;
}

float dot_q4_0(const block_q4_0* w, const block_q8_0* x, int64_t k) {
  float s = 0;
  for (int64_t b = 0; b < k / qk4_0; ++b) {
    int sum = 0;
    for (int j = 0; j < qk4_0 / 2; ++j) {
      sum += ((w[b].qs[j] & 0x0f) - 8) * x[b].qs[j];
      sum += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + qk4_0 / 2];
    }
    s += static_cast<float>(sum) * (fp16_to_fp32(w[b].d) * fp16_to_fp32(x[b].d));
  }
  return s;
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

float dot_f32_f16_ref(const float* q, const uint16_t* k, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(q[i]) * fp16_to_fp32(k[i]);
  return static_cast<float>(s);
}

void axpy_f16_ref(float a, const uint16_t* v, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * fp16_to_fp32(v[i]);
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

void quantize_row_q8_0_ref(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q8_0*>(y);
  for (int64_t b = 0; b < k / qk8_0; ++b) {
    float amax = 0;
    for (int j = 0; j < qk8_0; ++j) amax = std::max(amax, std::fabs(x[b * qk8_0 + j]));
    float d = amax / 127.0f;
    float id = d != 0 ? 1.0f / d : 0.0f;
    out[b].d = fp32_to_fp16(d);
    for (int j = 0; j < qk8_0; ++j) {
      out[b].qs[j] = static_cast<int8_t>(std::nearbyint(x[b * qk8_0 + j] * id));
    }
  }
}

const kernel_set& scalar() {
  static const kernel_set ks = {
      .name = "scalar",
      .to_q8_0 = quantize_row_q8_0_ref,
      .to_f16 = to_f16_ref,
      .to_bf16 = to_bf16_ref,
      .gemm_f32 = gemm_ref<float, float, dot_f32>,
      .gemm_f16 = gemm_ref<uint16_t, uint16_t, dot_f16>,
      .gemm_bf16 = gemm_ref<uint16_t, uint16_t, dot_bf16>,
      .gemm_q8_0 = gemm_ref<block_q8_0, block_q8_0, dot_q8_0>,
      .gemm_q4_0 = gemm_ref<block_q4_0, block_q8_0, dot_q4_0>,
      .dot_f32_f16 = dot_f32_f16_ref,
      .axpy_f16 = axpy_f16_ref,
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

#include "kernels/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"

namespace hearth::kernels {

void quantize_weights_q8_0(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q8_0*>(y);
  for (int64_t b = 0; b < k / qk8_0; ++b) {
    float amax = 0;
    for (int j = 0; j < qk8_0; ++j) amax = std::max(amax, std::fabs(x[b * qk8_0 + j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    out[b].d = fp32_to_fp16(d);
    for (int j = 0; j < qk8_0; ++j) out[b].qs[j] = static_cast<int8_t>(std::round(x[b * qk8_0 + j] * id));
  }
}

void quantize_weights_q4_0(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q4_0*>(y);
  for (int64_t b = 0; b < k / qk4_0; ++b) {
    const float* v = x + b * qk4_0;
    float amax = 0, max = 0;
    for (int j = 0; j < qk4_0; ++j) {
      if (std::fabs(v[j]) > amax) {
        amax = std::fabs(v[j]);
        max = v[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    out[b].d = fp32_to_fp16(d);
    for (int j = 0; j < qk4_0 / 2; ++j) {
      const auto lo = static_cast<uint8_t>(std::min(15.0f, v[j] * id + 8.5f));
      const auto hi = static_cast<uint8_t>(std::min(15.0f, v[j + qk4_0 / 2] * id + 8.5f));
      out[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void quantize_weights_f16(const float* x, void* y, int64_t k) {
  auto* out = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < k; ++i) out[i] = fp32_to_fp16(x[i]);
}

void quantize_weights_bf16(const float* x, void* y, int64_t k) {
  auto* out = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < k; ++i) out[i] = fp32_to_bf16(x[i]);
}

namespace {
void copy_f32(const float* x, void* y, int64_t k) { std::memcpy(y, x, k * sizeof(float)); }
}  // namespace

weight_quantizer weight_quantizer_for(ggml_type t) {
  switch (t) {
    case ggml_type::f32: return copy_f32;
    case ggml_type::f16: return quantize_weights_f16;
    case ggml_type::bf16: return quantize_weights_bf16;
    case ggml_type::q8_0: return quantize_weights_q8_0;
    case ggml_type::q4_0: return quantize_weights_q4_0;
    default: return nullptr;
  }
}

}  // namespace hearth::kernels

// F32, F16 and BF16 weights: dequantize, quantize (round to nearest even) and the reference
// matmul, whose activations are converted to the weights' own float format.
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/recipes.h"
#include "kernels/type_traits.h"

namespace hearth::kernels {

namespace {

// Recipe "L16" (k % 16 == 0): one 16-lane accumulator, lane l takes elements i with i % 16 == l
// by fused multiply-add, then hsum_lanes<16> (ggml's order on x86, so F32 logits match
// llama.cpp to its printed precision). Other k: float products summed in double, in order.
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

float load_f32(float v) { return v; }
float load_f16(uint16_t v) { return fp16_to_fp32(v); }
float load_bf16(uint16_t v) { return bf16_to_fp32(v); }

float dot_f32(const float* w, const float* x, int64_t k) { return dot_recipe<float, load_f32>(w, x, k); }
float dot_f16(const uint16_t* w, const uint16_t* x, int64_t k) { return dot_recipe<uint16_t, load_f16>(w, x, k); }
float dot_bf16(const uint16_t* w, const uint16_t* x, int64_t k) { return dot_recipe<uint16_t, load_bf16>(w, x, k); }

void dequant_f32(const void* w, float* y, int64_t k) { std::memcpy(y, w, k * sizeof(float)); }

void dequant_f16(const void* w, float* y, int64_t k) {
  const auto* p = static_cast<const uint16_t*>(w);
  for (int64_t i = 0; i < k; ++i) y[i] = fp16_to_fp32(p[i]);
}

void dequant_bf16(const void* w, float* y, int64_t k) {
  const auto* p = static_cast<const uint16_t*>(w);
  for (int64_t i = 0; i < k; ++i) y[i] = bf16_to_fp32(p[i]);
}

void quantize_f32(const float* x, void* y, int64_t k) { std::memcpy(y, x, k * sizeof(float)); }

void quantize_f16(const float* x, void* y, int64_t k) {
  auto* out = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < k; ++i) out[i] = fp32_to_fp16(x[i]);
}

void quantize_bf16(const float* x, void* y, int64_t k) {
  auto* out = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < k; ++i) out[i] = fp32_to_bf16(x[i]);
}

}  // namespace

extern const type_traits f32_traits = {
    .type = ggml_type::f32, .block = 1, .block_bytes = 4, .act = act_format::f32,
    .dequantize = dequant_f32, .quantize = quantize_f32, .gemm = gemm_ref<float, float, dot_f32>,
    .packed_block_bytes = 0, .pack = nullptr};

extern const type_traits f16_traits = {
    .type = ggml_type::f16, .block = 1, .block_bytes = 2, .act = act_format::f16,
    .dequantize = dequant_f16, .quantize = quantize_f16, .gemm = gemm_ref<uint16_t, uint16_t, dot_f16>,
    .packed_block_bytes = 0, .pack = nullptr};

extern const type_traits bf16_traits = {
    .type = ggml_type::bf16, .block = 1, .block_bytes = 2, .act = act_format::bf16,
    .dequantize = dequant_bf16, .quantize = quantize_bf16, .gemm = gemm_ref<uint16_t, uint16_t, dot_bf16>,
    .packed_block_bytes = 0, .pack = nullptr};

}  // namespace hearth::kernels

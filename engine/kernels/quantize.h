#pragma once
// Quantizing weights (not activations): float rows into the stored block formats, with
// llama.cpp's reference rules, so files written here match what llama-quantize would write.
#include <cstdint>

#include "gguf/ggml_type.h"

namespace hearth::kernels {

// Q8_0: d = max|x| / 127, q = round(x / d), rounding half away from zero.
void quantize_weights_q8_0(const float* x, void* y, int64_t k);
// Q4_0: d = (the value of largest magnitude, with its sign) / -8, q = clamp(x / d + 8.5, 0, 15).
void quantize_weights_q4_0(const float* x, void* y, int64_t k);
// F16 / BF16 with round to nearest even.
void quantize_weights_f16(const float* x, void* y, int64_t k);
void quantize_weights_bf16(const float* x, void* y, int64_t k);

// The quantizer of a storable type (F32, F16, BF16, Q8_0, Q4_0), or nullptr.
using weight_quantizer = void (*)(const float* x, void* y, int64_t k);
weight_quantizer weight_quantizer_for(ggml_type t);

}  // namespace hearth::kernels

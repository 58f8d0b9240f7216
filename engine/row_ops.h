#pragma once
// The elementwise operations of a transformer layer on rows of floats, each computed the way
// ggml's CPU backend computes it (it made the reference outputs), so results agree to the last
// bit where the inputs do. Pure functions; any thread. (SiLU·up is the kernel set's silu_mul:
// vectorized, like ggml's own, and the same bits in every set.)
#include <cstdint>
#include <span>

namespace hearth {

// y = x / rms(x) * w: the sum of squares accumulates in double, the scale is applied before the
// weight. y may be x.
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

// gate[i] = gelu(gate[i]) * up[i], GELU's tanh approximation as ggml evaluates it: looked up
// for the input rounded to F16 in a table of F16 results (exactly 0 below -10, x above 10).
void gelu_mul(float* gate, const float* up, int64_t n);
// x[i] = gelu(x[i]), the same GELU.
void gelu(float* x, int64_t n);

// x[i] = cap * tanh(x[i] * (1 / cap)): soft-capping of logits.
void soft_cap(float* x, int64_t n, float cap);

// The largest value of x, NaN ignored; -inf when x is empty or all NaN.
float max_value(std::span<const float> x);
// The index of the largest value, the lowest among equals; NaN never wins. 0 when x is empty or
// all NaN. (Greedy sampling, draft models' tokens, perplexity's top-token agreement.)
int64_t argmax(std::span<const float> x);

}  // namespace hearth

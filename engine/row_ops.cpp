#include "row_ops.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <limits>

#include "kernels/fp16.h"

namespace hearth {

namespace {

float gelu_tanh(float x) {
  constexpr float coef_a = 0.044715f, sqrt_2_over_pi = 0.79788456080286535587989211986876f;
  return 0.5f * x * (1.0f + std::tanh(sqrt_2_over_pi * x * (1.0f + coef_a * x * x)));
}

// GELU of every F16 value, rounded to F16 (ggml's table).
const std::array<uint16_t, 65536>& gelu_table() {
  static const auto table = [] {
    std::array<uint16_t, 65536> t{};
    for (uint32_t i = 0; i < t.size(); ++i) t[i] = fp32_to_fp16(gelu_tanh(fp16_to_fp32(static_cast<uint16_t>(i))));
    return t;
  }();
  return table;
}

}  // namespace

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
}

namespace {

float gelu_one(float x, const std::array<uint16_t, 65536>& table) {
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  return fp16_to_fp32(table[fp32_to_fp16(x)]);
}

}  // namespace

void gelu_mul(float* gate, const float* up, int64_t n) {
  const auto& table = gelu_table();
  for (int64_t i = 0; i < n; ++i) gate[i] = gelu_one(gate[i], table) * up[i];
}

void gelu(float* x, int64_t n) {
  const auto& table = gelu_table();
  for (int64_t i = 0; i < n; ++i) x[i] = gelu_one(x[i], table);
}

void soft_cap(float* x, int64_t n, float cap) {
  const float inv = 1.0f / cap;
  for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i] * inv) * cap;
}

// Eight independent running maxima: a single one is a chain of dependent compares that the CPU
// cannot overlap (about 4x slower over 150k logits). `v > m` is false for NaN, so NaN is skipped,
// and the grouping does not change the result.
float max_value(std::span<const float> x) {
  constexpr size_t lanes = 8;
  float m[lanes];
  std::fill(std::begin(m), std::end(m), -std::numeric_limits<float>::infinity());
  const size_t n = x.size();
  size_t i = 0;
  for (; i + lanes <= n; i += lanes)
    for (size_t j = 0; j < lanes; ++j) m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
  for (; i < n; ++i) m[0] = x[i] > m[0] ? x[i] : m[0];
  float r = m[0];
  for (size_t j = 1; j < lanes; ++j) r = m[j] > r ? m[j] : r;
  return r;
}

int64_t argmax(std::span<const float> x) {
  const auto it = std::find(x.begin(), x.end(), max_value(x));
  return it == x.end() ? 0 : it - x.begin();
}

}  // namespace hearth

// Q4_0: 32 elements, x = (nibble - 8) * d with an fp16 d; low nibbles hold elements 0..15, high
// nibbles 16..31. Multiplies with q8 activations (recipe Q8S); packed in 16-row groups as
// block_q4_0x16, nibbles kept as they are.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernels/packing.h"
#include "kernels/recipes.h"
#include "kernels/type_traits.h"
#include "kernels/types/scale_search.h"

namespace hearth::kernels {

namespace {

void dequantize(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_q4_0*>(w);
  for (int64_t i = 0; i < k / qk4_0; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < qk4_0 / 2; ++j) {
      y[i * qk4_0 + j] = ((b[i].qs[j] & 0x0f) - 8) * d;
      y[i * qk4_0 + j + qk4_0 / 2] = ((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

// d = (the value of largest magnitude, with its sign) / -8, q = min(15, trunc(x / d + 8.5)).
void quantize(const float* x, void* y, int64_t k) {
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

// ggml's quantize_row_q4_0_impl: per block a signed 4-bit fit by make_qx_quants (nmax 8) with
// the importance weights (row_sigma2, importance_weights).
void quantize_weighted(const float* x, void* y, int64_t k, const float* importance) {
  auto* out = static_cast<block_q4_0*>(y);
  const float sigma2 = row_sigma2(x, k);
  float weight[qk4_0];
  int8_t L[qk4_0];
  for (int64_t b = 0; b < k / qk4_0; ++b) {
    const float* v = x + b * qk4_0;
    importance_weights(qk4_0, v, importance + b * qk4_0, sigma2, weight);
    out[b].d = fp32_to_fp16(make_qx_quants(qk4_0, 8, v, L, 1, weight));
    for (int j = 0; j < qk4_0 / 2; ++j) out[b].qs[j] = static_cast<uint8_t>(L[j] | L[j + qk4_0 / 2] << 4);
  }
}

float dot(const block_q4_0* w, const block_q8_act* x, int64_t k) {
  return dot_q8s(w, x, k, [](const block_q4_0& b, int j) {
    return (j < 16 ? (b.qs[j] & 0x0f) : (b.qs[j - 16] >> 4)) - 8;
  });
}

void pack(const uint8_t* src, size_t row_bytes, int64_t rows, int64_t row0, int64_t blocks, uint8_t* out) {
  pack_group_blocks(src, row_bytes, sizeof(block_q4_0), sizeof(block_q4_0x16), rows, row0, blocks, out,
                    [](const uint8_t* const* r, int present, uint8_t* o) {
                      auto* dst = reinterpret_cast<block_q4_0x16*>(o);
                      gather_u16(r, present, offsetof(block_q4_0, d), dst->d);
                      interleave_dwords(r, present, offsetof(block_q4_0, qs), qk4_0 / 2, dst->qs[0]);
                    });
}

}  // namespace

extern const type_traits q4_0_traits = {
    .type = ggml_type::q4_0, .block = qk4_0, .block_bytes = sizeof(block_q4_0), .act = act_format::q8,
    .dequantize = dequantize, .quantize = quantize, .quantize_weighted = quantize_weighted,
    .gemm = gemm_ref<block_q4_0, block_q8_act, dot>,
    .packed_block_bytes = sizeof(block_q4_0x16), .pack = pack};

}  // namespace hearth::kernels

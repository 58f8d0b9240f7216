// Q5_1: 32 elements, x = q * d + m, q as in Q5_0. Multiplies with q8 activations by recipe Q8M
// (see q4_1.cpp).
#include <algorithm>
#include <cfloat>
#include <cstddef>
#include <cstring>

#include "kernels/packing.h"
#include "kernels/recipes.h"
#include "kernels/type_traits.h"
#include "kernels/types/scale_search.h"

namespace hearth::kernels {

namespace {

int level(const block_q5_1& b, int j) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  const int low = j < 16 ? b.qs[j] & 0x0f : b.qs[j - 16] >> 4;
  return low | static_cast<int>((qh >> j) & 1) << 4;
}

void dequantize(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_q5_1*>(w);
  for (int64_t i = 0; i < k / 32; ++i) {
    const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
    for (int j = 0; j < 32; ++j) y[32 * i + j] = level(b[i], j) * d + m;
  }
}

// ggml's quantize_row_q5_1_ref: d = (max - min) / 31, m = min, q = trunc((x - min) / d + 0.5).
void quantize(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q5_1*>(y);
  for (int64_t b = 0; b < k / 32; ++b) {
    const float* v = x + 32 * b;
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; ++j) {
      min = std::min(min, v[j]);
      max = std::max(max, v[j]);
    }
    const float d = (max - min) / 31;
    const float id = d ? 1.0f / d : 0.0f;
    out[b].d = fp32_to_fp16(d);
    out[b].m = fp32_to_fp16(min);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const auto lo = static_cast<uint8_t>((v[j] - min) * id + 0.5f);
      const auto hi = static_cast<uint8_t>((v[j + 16] - min) * id + 0.5f);
      out[b].qs[j] = static_cast<uint8_t>((lo & 0x0f) | (hi & 0x0f) << 4);
      qh |= static_cast<uint32_t>((lo >> 4) & 1) << j | static_cast<uint32_t>((hi >> 4) & 1) << (j + 16);
    }
    std::memcpy(out[b].qh, &qh, 4);
  }
}

// ggml's quantize_row_q5_1_impl: per block an asymmetric 5-bit fit (make_qkx2_quants, candidates
// from -0.9 in 36 steps of 0.05) with the importance weights (row_sigma2, importance_weights).
void quantize_weighted(const float* x, void* y, int64_t k, const float* importance) {
  auto* out = static_cast<block_q5_1*>(y);
  const float sigma2 = row_sigma2(x, k);
  float weight[32];
  uint8_t L[32], Laux[32];
  for (int64_t b = 0; b < k / 32; ++b) {
    const float* v = x + b * 32;
    importance_weights(32, v, importance + b * 32, sigma2, weight);
    float min;
    out[b].d = fp32_to_fp16(make_qkx2_quants(32, 31, v, weight, L, &min, Laux, -0.9f, 0.05f, 36, false));
    out[b].m = fp32_to_fp16(-min);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      out[b].qs[j] = static_cast<uint8_t>((L[j] & 0x0f) | (L[j + 16] & 0x0f) << 4);
      qh |= static_cast<uint32_t>((L[j] >> 4) & 1) << j | static_cast<uint32_t>((L[j + 16] >> 4) & 1) << (j + 16);
    }
    std::memcpy(out[b].qh, &qh, 4);
  }
}

float dot(const block_q5_1* w, const block_q8_act* x, int64_t k) {
  float acc = 0;
  for (int64_t b = 0; b < k / 32; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < 32; ++j) isum += level(w[b], j) * x[b].qs[j];
    acc = q8m_step(acc, fp16_to_fp32(w[b].d), fp16_to_fp32(w[b].m), x[b], isum);
  }
  return acc;
}

void pack(const uint8_t* src, size_t row_bytes, int64_t rows, int64_t row0, int64_t blocks, uint8_t* out) {
  pack_group_blocks(src, row_bytes, sizeof(block_q5_1), sizeof(block_q5_1x16), rows, row0, blocks, out,
                    [](const uint8_t* const* r, int present, uint8_t* o) {
                      auto* dst = reinterpret_cast<block_q5_1x16*>(o);
                      gather_u16(r, present, offsetof(block_q5_1, d), dst->d);
                      gather_u16(r, present, offsetof(block_q5_1, m), dst->m);
                      pack_q5_high_bits(r, present, offsetof(block_q5_1, qh), dst->qh);
                      interleave_dwords(r, present, offsetof(block_q5_1, qs), 16, dst->qs[0]);
                    });
}

}  // namespace

extern const type_traits q5_1_traits = {
    .type = ggml_type::q5_1, .block = 32, .block_bytes = sizeof(block_q5_1), .act = act_format::q8,
    .dequantize = dequantize, .quantize = quantize, .quantize_weighted = quantize_weighted,
    .gemm = gemm_ref<block_q5_1, block_q8_act, dot>,
    .packed_block_bytes = sizeof(block_q5_1x16), .pack = pack};

}  // namespace hearth::kernels

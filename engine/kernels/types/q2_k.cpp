// Q2_K: 256-element super-blocks of 16 sub-blocks of 16, x = d * sc * q - dmin * m with 4-bit
// sub-block scales and minimums and 2-bit levels (quant_blocks_k.h). Multiplies with q8_k
// activations by recipe K.
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernels/packing.h"
#include "kernels/quant_blocks_k.h"
#include "kernels/recipes.h"
#include "kernels/type_traits.h"
#include "kernels/types/scale_search.h"

namespace hearth::kernels {

namespace {

void dequantize(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_q2_k*>(w);
  for (int64_t i = 0; i < k / qk_k; ++i) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int j = 0; j < 16; ++j) {
      const uint8_t sc = b[i].scales[j];
      const float dl = d * (sc & 0x0f), ml = dmin * (sc >> 4);
      for (int e = 16 * j; e < 16 * j + 16; ++e) y[qk_k * i + e] = dl * low_bits(b[i].qs, e) - ml;
    }
  }
}

// Redoes a super-block's levels against its quantized scales and minimums (where a scale is
// zero, the levels of the fit stay) and stores them.
void store_levels(block_q2_k& b, const float* x, uint8_t* L) {
  for (int j = 0; j < 16; ++j) {
    const float d = fp16_to_fp32(b.d) * (b.scales[j] & 0x0f);
    if (!d) continue;
    const float dm = fp16_to_fp32(b.dmin) * (b.scales[j] >> 4);
    for (int l = 0; l < 16; ++l) L[16 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[16 * j + l] + dm) / d), 0, 3));
  }
  pack_2bit(L, b.qs);
}

// ggml's quantize_row_q2_K_ref: per 16 elements an asymmetric 2-bit fit (make_qkx2_quants,
// weights |x|, absolute errors), scales and minimums quantized to 4 bits against the largest
// of each, then the levels redone against the quantized values.
void quantize(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q2_k*>(y);
  for (int64_t i = 0; i < k / qk_k; ++i, x += qk_k) {
    block_q2_k& b = out[i];
    uint8_t L[qk_k], Laux[16];
    float weights[16], mins[16], scales[16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    for (int j = 0; j < 16; ++j) b.scales[j] = max_scale > 0 ? static_cast<uint8_t>(nearest_int(15.0f / max_scale * scales[j])) : 0;
    b.d = fp32_to_fp16(max_scale > 0 ? max_scale / 15.0f : 0.0f);
    if (max_min > 0) {
      for (int j = 0; j < 16; ++j) b.scales[j] |= static_cast<uint8_t>(nearest_int(15.0f / max_min * mins[j]) << 4);
    }
    b.dmin = fp32_to_fp16(max_min > 0 ? max_min / 15.0f : 0.0f);
    store_levels(b, x, L);
  }
}

// ggml's quantize_row_q2_K_impl: per 16 elements an asymmetric 2-bit fit (make_qkx2_quants,
// candidates from -0.9 in 36 steps of 0.05, squared errors) with weights importance * sqrt(sigma²
// + x²) (sigma² = the super-block's mean square), scales and minimums quantized to 4 bits by
// make_qp_quants weighted by each sub-block's weight sum, then the levels redone.
void quantize_weighted(const float* x, void* y, int64_t k, const float* importance) {
  auto* out = static_cast<block_q2_k*>(y);
  for (int64_t i = 0; i < k / qk_k; ++i, x += qk_k, importance += qk_k) {
    block_q2_k& b = out[i];
    uint8_t L[qk_k], Laux[16], Ls[16], Lm[16];
    float weight[16], mins[16], scales[16], sw[16] = {};
    float sum_x2 = 0;
    for (int j = 0; j < qk_k; ++j) sum_x2 += x[j] * x[j];
    const float sigma2 = sum_x2 / qk_k;
    for (int j = 0; j < 16; ++j) {
      importance_weights(16, x + 16 * j, importance + 16 * j, sigma2, weight);
      for (int l = 0; l < 16; ++l) sw[j] += weight[l];
      scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
    }
    b.d = fp32_to_fp16(make_qp_quants(16, 15, scales, Ls, sw));
    b.dmin = fp32_to_fp16(make_qp_quants(16, 15, mins, Lm, sw));
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(Ls[j] | Lm[j] << 4);
    store_levels(b, x, L);
  }
}

float dot(const block_q2_k* w, const block_q8_k_act* x, int64_t k) {
  float acc = 0;
  for (int64_t i = 0; i < k / qk_k; ++i) {
    int32_t isum = 0, msum = 0;
    for (int j = 0; j < 16; ++j) {
      int32_t sub = 0;
      for (int e = 16 * j; e < 16 * j + 16; ++e) sub += low_bits(w[i].qs, e) * x[i].qs[e];
      isum += (w[i].scales[j] & 0x0f) * sub;
      msum += (w[i].scales[j] >> 4) * x[i].bsums[j];
    }
    acc = k_step(acc, fp16_to_fp32(w[i].d), fp16_to_fp32(w[i].dmin), x[i].d, isum, msum);
  }
  return acc;
}

void pack(const uint8_t* src, size_t row_bytes, int64_t rows, int64_t row0, int64_t blocks, uint8_t* out) {
  pack_group_blocks(src, row_bytes, sizeof(block_q2_k), sizeof(block_q2_kx16), rows, row0, blocks, out,
                    [](const uint8_t* const* r, int present, uint8_t* o) {
                      auto* dst = reinterpret_cast<block_q2_kx16*>(o);
                      gather_u16(r, present, offsetof(block_q2_k, d), dst->d);
                      gather_u16(r, present, offsetof(block_q2_k, dmin), dst->dmin);
                      interleave_dwords(r, present, offsetof(block_q2_k, scales), 16, dst->scales[0]);
                      interleave_dwords(r, present, offsetof(block_q2_k, qs), 64, dst->qs[0]);
                    });
}

}  // namespace

extern const type_traits q2_k_traits = {
    .type = ggml_type::q2_k, .block = qk_k, .block_bytes = sizeof(block_q2_k), .act = act_format::q8_k,
    .dequantize = dequantize, .quantize = quantize, .quantize_weighted = quantize_weighted,
    .gemm = gemm_ref<block_q2_k, block_q8_k_act, dot>,
    .packed_block_bytes = sizeof(block_q2_kx16), .pack = pack};

}  // namespace hearth::kernels

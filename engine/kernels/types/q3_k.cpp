// Q3_K: 256-element super-blocks of 16 sub-blocks of 16, x = d * (sc - 32) * (q - 4) with 6-bit
// sub-block scales and 3-bit levels (quant_blocks_k.h). Multiplies with q8_k activations by
// recipe K (no minimums).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "kernels/packing.h"
#include "kernels/quant_blocks_k.h"
#include "kernels/recipes.h"
#include "kernels/type_traits.h"
#include "kernels/types/scale_search.h"

namespace hearth::kernels {

namespace {

// The signed level q - 4 of element e.
int value(const block_q3_k& b, int e) {
  const int high = (b.hmask[e % 32] >> (e / 32)) & 1;
  return low_bits(b.qs, e) - (high ? 0 : 4);
}

void dequantize(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_q3_k*>(w);
  for (int64_t i = 0; i < k / qk_k; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    uint8_t sc[16];
    scales_q3_k(b[i].scales, sc);
    for (int j = 0; j < 16; ++j) {
      const float dl = d * (sc[j] - 32);
      for (int e = 16 * j; e < 16 * j + 16; ++e) y[qk_k * i + e] = dl * value(b[i], e);
    }
  }
}

// Redoes a super-block's levels against its quantized scales (where a scale is zero, the
// levels of the fit stay) and stores them: high bits in hmask, low two bits in qs.
void store_levels(block_q3_k& b, const float* x, int8_t* L) {
  uint8_t sc[16];
  scales_q3_k(b.scales, sc);
  for (int j = 0; j < 16; ++j) {
    const float d = fp16_to_fp32(b.d) * (sc[j] - 32);
    if (!d) continue;
    for (int l = 0; l < 16; ++l) L[16 * j + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * j + l] / d), -4, 3) + 4);
  }
  // The high bit of element e goes to bit e / 32 of hmask[e % 32].
  std::memset(b.hmask, 0, sizeof b.hmask);
  uint8_t low[qk_k];
  for (int e = 0; e < qk_k; ++e) {
    if (L[e] > 3) b.hmask[e % 32] |= static_cast<uint8_t>(1 << (e / 32));
    low[e] = static_cast<uint8_t>(L[e] & 3);
  }
  pack_2bit(low, b.qs);
}

// ggml's quantize_row_q3_K_ref: per 16 elements a signed 3-bit fit refined by coordinate
// descent (make_q3_quants), the scales quantized to 6 bits against the largest (d = that scale
// / -32), then the levels redone against the quantized scales.
void quantize(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q3_k*>(y);
  for (int64_t i = 0; i < k / qk_k; ++i, x += qk_k) {
    block_q3_k& b = out[i];
    int8_t L[qk_k];
    float scales[16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    std::memset(b.scales, 0, sizeof b.scales);
    if (max_scale) {
      const float iscale = -32.0f / max_scale;
      for (int j = 0; j < 16; ++j) {
        const int l = std::clamp<int>(static_cast<int8_t>(nearest_int(iscale * scales[j])), -32, 31) + 32;
        if (j < 8) b.scales[j] = static_cast<uint8_t>(l & 0x0f);
        else b.scales[j - 8] |= static_cast<uint8_t>((l & 0x0f) << 4);
        b.scales[j % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      b.d = fp32_to_fp16(1 / iscale);
    } else {
      b.d = fp32_to_fp16(0.0f);
    }
    store_levels(b, x, L);
  }
}

// ggml's quantize_row_q3_K_impl with quant_weights: per 16 elements a signed 3-bit fit by
// make_qx_quants with weights importance * sqrt(sigma² + x²) (sigma² = 2 * the super-block's
// mean square), the 16 scales quantized to 6 bits by another make_qx_quants weighted by each
// sub-block's weight sum, then the levels redone against the quantized scales.
void quantize_weighted(const float* x, void* y, int64_t k, const float* importance) {
  auto* out = static_cast<block_q3_k*>(y);
  for (int64_t i = 0; i < k / qk_k; ++i, x += qk_k, importance += qk_k) {
    block_q3_k& b = out[i];
    int8_t L[qk_k], Ls[16];
    float scales[16], weight[16], sw[16];
    float sum_x2 = 0;
    for (int j = 0; j < qk_k; ++j) sum_x2 += x[j] * x[j];
    const float sigma2 = 2 * sum_x2 / qk_k;
    for (int j = 0; j < 16; ++j) {
      importance_weights(16, x + 16 * j, importance + 16 * j, sigma2, weight);
      float sumw = 0;
      for (int l = 0; l < 16; ++l) sumw += weight[l];
      sw[j] = sumw;
      scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, 1, weight);
    }
    std::memset(b.scales, 0, sizeof b.scales);
    b.d = fp32_to_fp16(make_qx_quants(16, 32, scales, Ls, 1, sw));
    for (int j = 0; j < 16; ++j) {
      const int l = Ls[j];
      if (j < 8) b.scales[j] = static_cast<uint8_t>(l & 0x0f);
      else b.scales[j - 8] |= static_cast<uint8_t>((l & 0x0f) << 4);
      b.scales[j % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
    }
    store_levels(b, x, L);
  }
}

float dot(const block_q3_k* w, const block_q8_k_act* x, int64_t k) {
  float acc = 0;
  for (int64_t i = 0; i < k / qk_k; ++i) {
    uint8_t sc[16];
    scales_q3_k(w[i].scales, sc);
    int32_t isum = 0;
    for (int j = 0; j < 16; ++j) {
      int32_t sub = 0;
      for (int e = 16 * j; e < 16 * j + 16; ++e) sub += value(w[i], e) * x[i].qs[e];
      isum += (sc[j] - 32) * sub;
    }
    acc = k_step(acc, fp16_to_fp32(w[i].d), x[i].d, isum);
  }
  return acc;
}

void pack(const uint8_t* src, size_t row_bytes, int64_t rows, int64_t row0, int64_t blocks, uint8_t* out) {
  pack_group_blocks(src, row_bytes, sizeof(block_q3_k), sizeof(block_q3_kx16), rows, row0, blocks, out,
                    [](const uint8_t* const* r, int present, uint8_t* o) {
                      auto* dst = reinterpret_cast<block_q3_kx16*>(o);
                      gather_u16(r, present, offsetof(block_q3_k, d), dst->d);
                      interleave_dwords(r, present, offsetof(block_q3_k, scales), 12, dst->scales[0]);
                      interleave_dwords(r, present, offsetof(block_q3_k, hmask), 32, dst->hmask[0]);
                      interleave_dwords(r, present, offsetof(block_q3_k, qs), 64, dst->qs[0]);
                    });
}

}  // namespace

extern const type_traits q3_k_traits = {
    .type = ggml_type::q3_k, .block = qk_k, .block_bytes = sizeof(block_q3_k), .act = act_format::q8_k,
    .dequantize = dequantize, .quantize = quantize, .quantize_weighted = quantize_weighted,
    .gemm = gemm_ref<block_q3_k, block_q8_k_act, dot>,
    .packed_block_bytes = sizeof(block_q3_kx16), .pack = pack};

}  // namespace hearth::kernels

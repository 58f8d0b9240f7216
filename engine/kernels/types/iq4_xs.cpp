// IQ4_XS: 256-element super-blocks of 8 sub-blocks of 32, x = d * (ls - 32) * kvalues_iq4nl[nibble]
// with 6-bit sub-block scales (quant_blocks_k.h). Multiplies with q8_k activations by recipe K
// (no minimums); ggml applies each sub-block's scale in float, here it is an integer factor.
#include <cstddef>

#include "kernels/packing.h"
#include "kernels/quant_blocks_k.h"
#include "kernels/recipes.h"
#include "kernels/type_traits.h"
#include "kernels/types/scale_search.h"

namespace hearth::kernels {

namespace {

int value(const block_iq4_xs& b, int e) {
  const uint8_t byte = b.qs[16 * (e / 32) + e % 16];
  return kvalues_iq4nl[e % 32 < 16 ? byte & 0x0f : byte >> 4];
}

void dequantize(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_iq4_xs*>(w);
  for (int64_t i = 0; i < k / qk_k; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int s = 0; s < 8; ++s) {
      const float dl = d * (scale_iq4_xs(b[i], s) - 32);
      for (int e = 32 * s; e < 32 * s + 32; ++e) y[qk_k * i + e] = dl * value(b[i], e);
    }
  }
}

// As llama-quantize does (ggml's quantize_iq4_xs without an importance matrix: 7 tries).
void quantize(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_iq4_xs*>(y);
  for (int64_t i = 0; i < k / qk_k; ++i) {
    quantize_iq4_super_block(qk_k, 32, x + qk_k * i, &out[i].d, out[i].qs, &out[i].scales_h, out[i].scales_l, 7);
  }
}

// ggml's quantize_iq4_xs with quant_weights (7 tries, weights importance * sqrt(sigma² + x²)).
void quantize_weighted(const float* x, void* y, int64_t k, const float* importance) {
  auto* out = static_cast<block_iq4_xs*>(y);
  for (int64_t i = 0; i < k / qk_k; ++i) {
    quantize_iq4_super_block(qk_k, 32, x + qk_k * i, &out[i].d, out[i].qs, &out[i].scales_h, out[i].scales_l, 7,
                             importance + qk_k * i);
  }
}

float dot(const block_iq4_xs* w, const block_q8_k_act* x, int64_t k) {
  float acc = 0;
  for (int64_t i = 0; i < k / qk_k; ++i) {
    int32_t isum = 0;
    for (int s = 0; s < 8; ++s) {
      int32_t sub = 0;
      for (int e = 32 * s; e < 32 * s + 32; ++e) sub += value(w[i], e) * x[i].qs[e];
      isum += (scale_iq4_xs(w[i], s) - 32) * sub;
    }
    acc = k_step(acc, fp16_to_fp32(w[i].d), x[i].d, isum);
  }
  return acc;
}

void pack(const uint8_t* src, size_t row_bytes, int64_t rows, int64_t row0, int64_t blocks, uint8_t* out) {
  pack_group_blocks(src, row_bytes, sizeof(block_iq4_xs), sizeof(block_iq4_xsx16), rows, row0, blocks, out,
                    [](const uint8_t* const* r, int present, uint8_t* o) {
                      auto* dst = reinterpret_cast<block_iq4_xsx16*>(o);
                      gather_u16(r, present, offsetof(block_iq4_xs, d), dst->d);
                      gather_u16(r, present, offsetof(block_iq4_xs, scales_h), dst->scales_h);
                      interleave_dwords(r, present, offsetof(block_iq4_xs, scales_l), 4, dst->scales_l);
                      interleave_dwords(r, present, offsetof(block_iq4_xs, qs), 128, dst->qs[0]);
                    });
}

}  // namespace

extern const type_traits iq4_xs_traits = {
    .type = ggml_type::iq4_xs, .block = qk_k, .block_bytes = sizeof(block_iq4_xs), .act = act_format::q8_k,
    .dequantize = dequantize, .quantize = quantize, .quantize_weighted = quantize_weighted,
    .gemm = gemm_ref<block_iq4_xs, block_q8_k_act, dot>,
    .packed_block_bytes = sizeof(block_iq4_xsx16), .pack = pack};

}  // namespace hearth::kernels

// Q4_K: 256-element super-blocks of 8 sub-blocks of 32, x = d * sc * q - dmin * m with 6-bit
// sub-block scales and minimums (quant_blocks_k.h). Multiplies with q8_k activations by recipe K.
#include <cstddef>

#include "kernels/packing.h"
#include "kernels/quant_blocks_k.h"
#include "kernels/recipes.h"
#include "kernels/type_traits.h"
#include "kernels/types/scale_search.h"

namespace hearth::kernels {

namespace {

int level(const block_q4_k& b, int e) {
  const uint8_t byte = b.qs[32 * (e / 64) + e % 32];
  return e % 64 < 32 ? byte & 0x0f : byte >> 4;
}

void dequantize(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_q4_k*>(w);
  for (int64_t i = 0; i < k / qk_k; ++i) {
    const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
    for (int s = 0; s < 8; ++s) {
      uint8_t sc, m;
      scale_min_k4(s, b[i].scales, sc, m);
      const float ds = d * sc, ms = dmin * m;
      for (int e = 32 * s; e < 32 * s + 32; ++e) y[qk_k * i + e] = ds * level(b[i], e) - ms;
    }
  }
}

// ggml's quantize_row_q4_K_ref (see quantize_scale_min_k).
void quantize(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q4_k*>(y);
  for (int64_t i = 0; i < k / qk_k; ++i, x += qk_k) {
    block_q4_k& b = out[i];
    uint8_t L[qk_k];
    quantize_scale_min_k(x, 15, -1.0f, 20, b.scales, &b.d, &b.dmin, L);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) b.qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
  }
}

// ggml's quantize_row_q4_K_impl with quant_weights (see quantize_scale_min_k_weighted).
void quantize_weighted(const float* x, void* y, int64_t k, const float* importance) {
  auto* out = static_cast<block_q4_k*>(y);
  for (int64_t i = 0; i < k / qk_k; ++i, x += qk_k, importance += qk_k) {
    block_q4_k& b = out[i];
    uint8_t L[qk_k];
    quantize_scale_min_k_weighted(x, importance, 15, b.scales, &b.d, &b.dmin, L);
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) b.qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
  }
}

float dot(const block_q4_k* w, const block_q8_k_act* x, int64_t k) {
  float acc = 0;
  for (int64_t i = 0; i < k / qk_k; ++i) {
    int32_t isum = 0, msum = 0;
    for (int s = 0; s < 8; ++s) {
      uint8_t sc, m;
      scale_min_k4(s, w[i].scales, sc, m);
      int32_t sub = 0;
      for (int e = 32 * s; e < 32 * s + 32; ++e) sub += level(w[i], e) * x[i].qs[e];
      isum += sc * sub;
      msum += m * (x[i].bsums[2 * s] + x[i].bsums[2 * s + 1]);
    }
    acc = k_step(acc, fp16_to_fp32(w[i].d), fp16_to_fp32(w[i].dmin), x[i].d, isum, msum);
  }
  return acc;
}

void pack(const uint8_t* src, size_t row_bytes, int64_t rows, int64_t row0, int64_t blocks, uint8_t* out) {
  pack_group_blocks(src, row_bytes, sizeof(block_q4_k), sizeof(block_q4_kx16), rows, row0, blocks, out,
                    [](const uint8_t* const* r, int present, uint8_t* o) {
                      auto* dst = reinterpret_cast<block_q4_kx16*>(o);
                      gather_u16(r, present, offsetof(block_q4_k, d), dst->d);
                      gather_u16(r, present, offsetof(block_q4_k, dmin), dst->dmin);
                      interleave_dwords(r, present, offsetof(block_q4_k, scales), 12, dst->scales[0]);
                      interleave_dwords(r, present, offsetof(block_q4_k, qs), 128, dst->qs[0]);
                    });
}

}  // namespace

extern const type_traits q4_k_traits = {
    .type = ggml_type::q4_k, .block = qk_k, .block_bytes = sizeof(block_q4_k), .act = act_format::q8_k,
    .dequantize = dequantize, .quantize = quantize, .quantize_weighted = quantize_weighted,
    .gemm = gemm_ref<block_q4_k, block_q8_k_act, dot>,
    .packed_block_bytes = sizeof(block_q4_kx16), .pack = pack};

}  // namespace hearth::kernels

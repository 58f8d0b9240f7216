// Q5_K: as Q4_K with a fifth bit per level (quant_blocks_k.h). Multiplies with q8_k
// activations by recipe K.
#include <cstddef>
#include <cstring>

#include "kernels/packing.h"
#include "kernels/quant_blocks_k.h"
#include "kernels/recipes.h"
#include "kernels/type_traits.h"
#include "kernels/types/scale_search.h"

namespace hearth::kernels {

namespace {

int level(const block_q5_k& b, int e) {
  const int c = e / 64, h = (e % 64) / 32, l = e % 32;
  const uint8_t byte = b.qs[32 * c + l];
  return (h ? byte >> 4 : byte & 0x0f) | ((b.qh[l] >> (2 * c + h)) & 1) << 4;
}

void dequantize(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_q5_k*>(w);
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

// Stores a super-block's 256 levels (0..31) as low nibbles and high bits.
void store_levels(block_q5_k& b, const uint8_t* L) {
  std::memset(b.qh, 0, sizeof b.qh);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
      b.qh[l] |= static_cast<uint8_t>((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
      b.qs[32 * c + l] = static_cast<uint8_t>((lo & 0x0f) | (hi & 0x0f) << 4);
    }
  }
}

// ggml's quantize_row_q5_K_ref (see quantize_scale_min_k).
void quantize(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q5_k*>(y);
  for (int64_t i = 0; i < k / qk_k; ++i, x += qk_k) {
    uint8_t L[qk_k];
    quantize_scale_min_k(x, 31, -0.5f, 15, out[i].scales, &out[i].d, &out[i].dmin, L);
    store_levels(out[i], L);
  }
}

// ggml's quantize_row_q5_K_impl with quant_weights (see quantize_scale_min_k_weighted).
void quantize_weighted(const float* x, void* y, int64_t k, const float* importance) {
  auto* out = static_cast<block_q5_k*>(y);
  for (int64_t i = 0; i < k / qk_k; ++i, x += qk_k, importance += qk_k) {
    uint8_t L[qk_k];
    quantize_scale_min_k_weighted(x, importance, 31, out[i].scales, &out[i].d, &out[i].dmin, L);
    store_levels(out[i], L);
  }
}

float dot(const block_q5_k* w, const block_q8_k_act* x, int64_t k) {
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
  pack_group_blocks(src, row_bytes, sizeof(block_q5_k), sizeof(block_q5_kx16), rows, row0, blocks, out,
                    [](const uint8_t* const* r, int present, uint8_t* o) {
                      auto* dst = reinterpret_cast<block_q5_kx16*>(o);
                      gather_u16(r, present, offsetof(block_q5_k, d), dst->d);
                      gather_u16(r, present, offsetof(block_q5_k, dmin), dst->dmin);
                      interleave_dwords(r, present, offsetof(block_q5_k, scales), 12, dst->scales[0]);
                      interleave_dwords(r, present, offsetof(block_q5_k, qh), 32, dst->qh[0]);
                      interleave_dwords(r, present, offsetof(block_q5_k, qs), 128, dst->qs[0]);
                    });
}

}  // namespace

extern const type_traits q5_k_traits = {
    .type = ggml_type::q5_k, .block = qk_k, .block_bytes = sizeof(block_q5_k), .act = act_format::q8_k,
    .dequantize = dequantize, .quantize = quantize, .quantize_weighted = quantize_weighted,
    .gemm = gemm_ref<block_q5_k, block_q8_k_act, dot>,
    .packed_block_bytes = sizeof(block_q5_kx16), .pack = pack};

}  // namespace hearth::kernels

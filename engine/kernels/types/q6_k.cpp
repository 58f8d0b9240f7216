// Q6_K: 256-element super-blocks of 16 sub-blocks of 16, x = d * scale * (q - 32) with int8
// sub-block scales and 6-bit levels (quant_blocks_k.h). Multiplies with q8_k activations by
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

int level(const block_q6_k& b, int e) {
  const int n = e / 128, k = (e % 128) / 32, l = e % 32;
  const uint8_t low = b.ql[64 * n + 32 * (k & 1) + l];
  return (k < 2 ? low & 0x0f : low >> 4) | ((b.qh[32 * n + l] >> (2 * k)) & 3) << 4;
}

void dequantize(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_q6_k*>(w);
  for (int64_t i = 0; i < k / qk_k; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int e = 0; e < qk_k; ++e) y[qk_k * i + e] = d * b[i].scales[e / 16] * static_cast<int8_t>(level(b[i], e) - 32);
  }
}

// ggml's quantize_row_q6_K_ref (importance null) and quantize_row_q6_K_impl: per 16 elements a
// signed 6-bit fit (make_qx_quants, weights x², or the importance itself), the scales quantized
// to int8 against the largest (d = that scale / -128), then the levels redone against the
// quantized scales.
void quantize_with(const float* x, void* y, int64_t k, const float* importance) {
  auto* out = static_cast<block_q6_k*>(y);
  for (int64_t i = 0; i < k / qk_k; ++i, x += qk_k) {
    block_q6_k& b = out[i];
    int8_t L[qk_k];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    const float* qw = importance ? importance + qk_k * i : nullptr;
    for (int j = 0; j < 16; ++j) {
      scales[j] = make_qx_quants(16, 32, x + 16 * j, L + 16 * j, 1, qw ? qw + 16 * j : nullptr);
      if (std::fabs(scales[j]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    if (max_abs_scale < 1e-15f) {
      std::memset(&b, 0, sizeof b);
      continue;
    }
    const float iscale = -128.0f / max_scale;
    b.d = fp32_to_fp16(1 / iscale);
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
    for (int j = 0; j < 16; ++j) {
      const float d = fp16_to_fp32(b.d) * b.scales[j];
      if (!d) continue;
      for (int l = 0; l < 16; ++l) L[16 * j + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * j + l] / d), -32, 31) + 32);
    }
    for (int n = 0; n < 2; ++n) {
      const int8_t* Ln = L + 128 * n;
      for (int l = 0; l < 32; ++l) {
        b.ql[64 * n + l] = static_cast<uint8_t>((Ln[l] & 0x0f) | (Ln[l + 64] & 0x0f) << 4);
        b.ql[64 * n + 32 + l] = static_cast<uint8_t>((Ln[l + 32] & 0x0f) | (Ln[l + 96] & 0x0f) << 4);
        b.qh[32 * n + l] = static_cast<uint8_t>((Ln[l] >> 4) | (Ln[l + 32] >> 4) << 2 | (Ln[l + 64] >> 4) << 4 |
                                                (Ln[l + 96] >> 4) << 6);
      }
    }
  }
}

void quantize(const float* x, void* y, int64_t k) { quantize_with(x, y, k, nullptr); }
void quantize_weighted(const float* x, void* y, int64_t k, const float* importance) { quantize_with(x, y, k, importance); }

float dot(const block_q6_k* w, const block_q8_k_act* x, int64_t k) {
  float acc = 0;
  for (int64_t i = 0; i < k / qk_k; ++i) {
    int32_t isum = 0;
    for (int j = 0; j < 16; ++j) {
      int32_t sub = 0;
      for (int e = 16 * j; e < 16 * j + 16; ++e) sub += (level(w[i], e) - 32) * x[i].qs[e];
      isum += w[i].scales[j] * sub;
    }
    acc = k_step(acc, fp16_to_fp32(w[i].d), x[i].d, isum);
  }
  return acc;
}

void pack(const uint8_t* src, size_t row_bytes, int64_t rows, int64_t row0, int64_t blocks, uint8_t* out) {
  pack_group_blocks(src, row_bytes, sizeof(block_q6_k), sizeof(block_q6_kx16), rows, row0, blocks, out,
                    [](const uint8_t* const* r, int present, uint8_t* o) {
                      auto* dst = reinterpret_cast<block_q6_kx16*>(o);
                      gather_u16(r, present, offsetof(block_q6_k, d), dst->d);
                      interleave_dwords(r, present, offsetof(block_q6_k, scales), 16, dst->scales[0]);
                      interleave_dwords(r, present, offsetof(block_q6_k, ql), 128, dst->ql[0]);
                      interleave_dwords(r, present, offsetof(block_q6_k, qh), 64, dst->qh[0]);
                    });
}

}  // namespace

extern const type_traits q6_k_traits = {
    .type = ggml_type::q6_k, .block = qk_k, .block_bytes = sizeof(block_q6_k), .act = act_format::q8_k,
    .dequantize = dequantize, .quantize = quantize, .quantize_weighted = quantize_weighted,
    .gemm = gemm_ref<block_q6_k, block_q8_k_act, dot>,
    .packed_block_bytes = sizeof(block_q6_kx16), .pack = pack};

}  // namespace hearth::kernels

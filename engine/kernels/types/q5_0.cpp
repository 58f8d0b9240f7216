// Q5_0: 32 elements, x = (q - 16) * d, q = nibble (as Q4_0) | fifth bit j of qh << 4. Multiplies
// with q8 activations by recipe Q8S.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "kernels/packing.h"
#include "kernels/recipes.h"
#include "kernels/type_traits.h"
#include "kernels/types/scale_search.h"

namespace hearth::kernels {

namespace {

int level(const block_q5_0& b, int j) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  const int low = j < 16 ? b.qs[j] & 0x0f : b.qs[j - 16] >> 4;
  return low | static_cast<int>((qh >> j) & 1) << 4;
}

void dequantize(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_q5_0*>(w);
  for (int64_t i = 0; i < k / 32; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < 32; ++j) y[32 * i + j] = (level(b[i], j) - 16) * d;
  }
}

// ggml's quantize_row_q5_0_ref: d = (the value of largest magnitude, signed) / -16,
// q = min(31, trunc(x / d + 16.5)).
void quantize(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q5_0*>(y);
  for (int64_t b = 0; b < k / 32; ++b) {
    const float* v = x + 32 * b;
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(v[j])) {
        amax = std::fabs(v[j]);
        max = v[j];
      }
    }
    const float d = max / -16;
    const float id = d ? 1.0f / d : 0.0f;
    out[b].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const int lo = std::min(31, static_cast<int>(static_cast<int8_t>(v[j] * id + 16.5f)));
      const int hi = std::min(31, static_cast<int>(static_cast<int8_t>(v[j + 16] * id + 16.5f)));
      out[b].qs[j] = static_cast<uint8_t>((lo & 0x0f) | (hi & 0x0f) << 4);
      qh |= static_cast<uint32_t>((lo >> 4) & 1) << j | static_cast<uint32_t>((hi >> 4) & 1) << (j + 16);
    }
    std::memcpy(out[b].qh, &qh, 4);
  }
}

// ggml's quantize_row_q5_0_impl: per block a signed 5-bit fit by make_qx_quants (nmax 16) with
// the importance weights (row_sigma2, importance_weights).
void quantize_weighted(const float* x, void* y, int64_t k, const float* importance) {
  auto* out = static_cast<block_q5_0*>(y);
  const float sigma2 = row_sigma2(x, k);
  float weight[32];
  int8_t L[32];
  for (int64_t b = 0; b < k / 32; ++b) {
    const float* v = x + b * 32;
    importance_weights(32, v, importance + b * 32, sigma2, weight);
    out[b].d = fp32_to_fp16(make_qx_quants(32, 16, v, L, 1, weight));
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      out[b].qs[j] = static_cast<uint8_t>((L[j] & 0x0f) | (L[j + 16] & 0x0f) << 4);
      qh |= static_cast<uint32_t>((L[j] >> 4) & 1) << j | static_cast<uint32_t>((L[j + 16] >> 4) & 1) << (j + 16);
    }
    std::memcpy(out[b].qh, &qh, 4);
  }
}

float dot(const block_q5_0* w, const block_q8_act* x, int64_t k) {
  return dot_q8s(w, x, k, [](const block_q5_0& b, int j) { return level(b, j) - 16; });
}

void pack(const uint8_t* src, size_t row_bytes, int64_t rows, int64_t row0, int64_t blocks, uint8_t* out) {
  pack_group_blocks(src, row_bytes, sizeof(block_q5_0), sizeof(block_q5_0x16), rows, row0, blocks, out,
                    [](const uint8_t* const* r, int present, uint8_t* o) {
                      auto* dst = reinterpret_cast<block_q5_0x16*>(o);
                      gather_u16(r, present, offsetof(block_q5_0, d), dst->d);
                      pack_q5_high_bits(r, present, offsetof(block_q5_0, qh), dst->qh);
                      interleave_dwords(r, present, offsetof(block_q5_0, qs), 16, dst->qs[0]);
                    });
}

}  // namespace

extern const type_traits q5_0_traits = {
    .type = ggml_type::q5_0, .block = 32, .block_bytes = sizeof(block_q5_0), .act = act_format::q8,
    .dequantize = dequantize, .quantize = quantize, .quantize_weighted = quantize_weighted,
    .gemm = gemm_ref<block_q5_0, block_q8_act, dot>,
    .packed_block_bytes = sizeof(block_q5_0x16), .pack = pack};

}  // namespace hearth::kernels

// Q8_0: 32 elements, x = q * d with an fp16 d and int8 q. Multiplies with q8 activations
// (recipe Q8S); packed in 16-row groups as block_q8_0x16, stored +128 (unsigned bytes).
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "kernels/packing.h"
#include "kernels/recipes.h"
#include "kernels/type_traits.h"

namespace hearth::kernels {

namespace {

void dequantize(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_q8_0*>(w);
  for (int64_t i = 0; i < k / qk8_0; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < qk8_0; ++j) y[i * qk8_0 + j] = b[i].qs[j] * d;
  }
}

// d = max|x| / 127, q = round(x / d), rounding half away from zero.
void quantize(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_q8_0*>(y);
  for (int64_t b = 0; b < k / qk8_0; ++b) {
    float amax = 0;
    for (int j = 0; j < qk8_0; ++j) amax = std::max(amax, std::fabs(x[b * qk8_0 + j]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    out[b].d = fp32_to_fp16(d);
    for (int j = 0; j < qk8_0; ++j) out[b].qs[j] = static_cast<int8_t>(std::round(x[b * qk8_0 + j] * id));
  }
}

float dot(const block_q8_0* w, const block_q8_act* x, int64_t k) {
  return dot_q8s(w, x, k, [](const block_q8_0& b, int j) { return int{b.qs[j]}; });
}

void pack(const uint8_t* src, size_t row_bytes, int64_t rows, int64_t row0, int64_t blocks, uint8_t* out) {
  pack_group_blocks(src, row_bytes, sizeof(block_q8_0), sizeof(block_q8_0x16), rows, row0, blocks, out,
                    [](const uint8_t* const* r, int present, uint8_t* o) {
                      auto* dst = reinterpret_cast<block_q8_0x16*>(o);
                      gather_u16(r, present, offsetof(block_q8_0, d), dst->d);
                      // x ^ 0x80 of a two's-complement byte is x + 128 as an unsigned byte.
                      interleave_dwords(r, present, offsetof(block_q8_0, qs), qk8_0, dst->qs[0], 0x80);
                    });
}

}  // namespace

extern const type_traits q8_0_traits = {
    .type = ggml_type::q8_0, .block = qk8_0, .block_bytes = sizeof(block_q8_0), .act = act_format::q8,
    .dequantize = dequantize, .quantize = quantize, .gemm = gemm_ref<block_q8_0, block_q8_act, dot>,
    .packed_block_bytes = sizeof(block_q8_0x16), .pack = pack};

}  // namespace hearth::kernels

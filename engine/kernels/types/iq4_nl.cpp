// IQ4_NL: 32 elements, x = kvalues_iq4nl[nibble] * d, nibbles as in Q4_0. Multiplies with q8
// activations by recipe Q8S (the codebook values are the integer weights).
#include <cstddef>

#include "kernels/packing.h"
#include "kernels/recipes.h"
#include "kernels/type_traits.h"
#include "kernels/types/scale_search.h"

namespace hearth::kernels {

namespace {

int value(const block_iq4_nl& b, int j) { return kvalues_iq4nl[j < 16 ? b.qs[j] & 0x0f : b.qs[j - 16] >> 4]; }

void dequantize(const void* w, float* y, int64_t k) {
  const auto* b = static_cast<const block_iq4_nl*>(w);
  for (int64_t i = 0; i < k / 32; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < 32; ++j) y[32 * i + j] = d * value(b[i], j);
  }
}

// As llama-quantize does (ggml's quantize_iq4_nl without an importance matrix: 7 tries).
void quantize(const float* x, void* y, int64_t k) {
  auto* out = static_cast<block_iq4_nl*>(y);
  for (int64_t b = 0; b < k / 32; ++b) quantize_iq4_super_block(32, 32, x + 32 * b, &out[b].d, out[b].qs, nullptr, nullptr, 7);
}

// ggml's quantize_iq4_nl with quant_weights (7 tries, weights importance * sqrt(sigma² + x²)).
void quantize_weighted(const float* x, void* y, int64_t k, const float* importance) {
  auto* out = static_cast<block_iq4_nl*>(y);
  for (int64_t b = 0; b < k / 32; ++b) {
    quantize_iq4_super_block(32, 32, x + 32 * b, &out[b].d, out[b].qs, nullptr, nullptr, 7, importance + 32 * b);
  }
}

float dot(const block_iq4_nl* w, const block_q8_act* x, int64_t k) { return dot_q8s(w, x, k, value); }

void pack(const uint8_t* src, size_t row_bytes, int64_t rows, int64_t row0, int64_t blocks, uint8_t* out) {
  pack_group_blocks(src, row_bytes, sizeof(block_iq4_nl), sizeof(block_iq4_nlx16), rows, row0, blocks, out,
                    [](const uint8_t* const* r, int present, uint8_t* o) {
                      auto* dst = reinterpret_cast<block_iq4_nlx16*>(o);
                      gather_u16(r, present, offsetof(block_iq4_nl, d), dst->d);
                      interleave_dwords(r, present, offsetof(block_iq4_nl, qs), 16, dst->qs[0]);
                    });
}

}  // namespace

extern const type_traits iq4_nl_traits = {
    .type = ggml_type::iq4_nl, .block = 32, .block_bytes = sizeof(block_iq4_nl), .act = act_format::q8,
    .dequantize = dequantize, .quantize = quantize, .quantize_weighted = quantize_weighted,
    .gemm = gemm_ref<block_iq4_nl, block_q8_act, dot>,
    .packed_block_bytes = sizeof(block_iq4_nlx16), .pack = pack};

}  // namespace hearth::kernels

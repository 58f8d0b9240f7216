// Gemma (1): NeoX RoPE, GELU (tanh approximation) gate, embeddings scaled by sqrt(n_embd), tied
// output, queries scaled before attention. The GGUF converter already adds the 1 of Gemma's
// (1 + w) norm weights, so norms use the stored weights as every other family does.
#include "model/arch/families.h"

namespace hearth::arch {

const arch_desc gemma{.name = "gemma",
                      .rope = rope_style::neox,
                      .activation = ffn_activation::gelu_tanh,
                      .embd_scale = true,
                      .scale_queries = true};

}  // namespace hearth::arch

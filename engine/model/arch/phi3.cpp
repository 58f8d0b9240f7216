// Phi-3 and 3.5: NeoX RoPE, Q, K and V in one fused `attn_qkv` tensor, gate and up in one
// `ffn_up` tensor, queries scaled before attention. Longrope files carry per-frequency divisors
// `rope_factors_short` / `rope_factors_long`: as in llama.cpp, the long ones rotate every position
// when the context hearth runs with exceeds rope.scaling.original_context_length.
#include "model/arch/families.h"

namespace hearth::arch {

const arch_desc phi3{.name = "phi3",
                     .rope = rope_style::neox,
                     .fused_qkv = true,
                     .fused_gate_up = true,
                     .scale_queries = true,
                     .rope_factors = true};

}  // namespace hearth::arch

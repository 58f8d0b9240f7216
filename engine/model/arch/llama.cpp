// Llama 2/3/3.x, Mistral, TinyLlama, SmolLM: adjacent-pair RoPE, SiLU-gated FFN. Llama 3's
// rope scaling comes as a `rope_freqs` tensor of per-frequency divisors, bound whenever present.
#include "model/arch/families.h"

namespace hearth::arch {

const arch_desc llama{.name = "llama"};

}  // namespace hearth::arch

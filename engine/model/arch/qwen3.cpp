// Qwen 3 (dense): Qwen 2's layout without biases, with a per-head RMSNorm of Q and K before RoPE.
#include "model/arch/families.h"

namespace hearth::arch {

const arch_desc qwen3{.name = "qwen3", .rope = rope_style::neox, .qk_norm = true};

}  // namespace hearth::arch

// Qwen 2 and 2.5: NeoX RoPE; the attention's Q, K and V projections carry biases (bound
// whenever present, for every family).
#include "model/arch/families.h"

namespace hearth::arch {

const arch_desc qwen2{.name = "qwen2", .rope = rope_style::neox};

}  // namespace hearth::arch

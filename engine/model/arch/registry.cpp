// The table of architectures: the families that run, then families hearth recognizes but
// refuses with a reason.
#include <array>

#include "model/arch/families.h"

namespace hearth {

namespace {

const arch_desc bert{.name = "bert", .refusal = "encoder-only embedding model; hearth serves decoders (`hearth embed` computes its embeddings)"};
const arch_desc nomic_bert{.name = "nomic-bert", .refusal = "encoder-only embedding model; hearth runs decoders"};

const std::array<const arch_desc*, 9> table = {
    &arch::llama, &arch::qwen2, &arch::qwen3, &arch::gemma, &arch::gemma2, &arch::gemma3, &arch::phi3,
    &bert,        &nomic_bert,
};

}  // namespace

const arch_desc* find_arch(std::string_view name) {
  for (const arch_desc* a : table) {
    if (a->name == name) return a;
  }
  return nullptr;
}

std::string supported_arch_names() {
  std::string out;
  for (const arch_desc* a : table) {
    if (a->refusal) continue;
    if (!out.empty()) out += ", ";
    out += a->name;
  }
  return out;
}

}  // namespace hearth

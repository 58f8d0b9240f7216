// Gemma 3 (text): Gemma 2 without the attention soft-cap, with per-head Q/K RMSNorm, and a
// sliding-window pattern (default 6: five local layers, one global) whose local layers rotate
// with their own base, rope.freq_base_swa. Sliding windows only when the file gives one.
// The attention scale follows Gemma 2's rule (27B shape: 62 layers).
#include <cmath>

#include "gguf/gguf_file.h"
#include "model/arch/families.h"

namespace hearth::arch {

namespace {

void read_gemma3(const gguf_file& f, const std::string& p, hparams& hp) {
  hp.n_swa = read_optional_count(f, p + "attention.sliding_window", 0);
  if (hp.n_swa > 0) {
    hp.swa_pattern = read_optional_count(f, p + "attention.sliding_window_pattern", 6);
    hp.rope_freq_base_swa = read_optional_positive_float(f, p + "rope.freq_base_swa", hp.rope_freq_base);
  }
  if (f.find(p + "final_logit_softcapping")) {
    hp.final_softcap = read_optional_positive_float(f, p + "final_logit_softcapping", 0.0f);
  }
  if (hp.n_layer == 62) hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.n_embd / hp.n_head));
}

}  // namespace

const arch_desc gemma3{.name = "gemma3",
                       .rope = rope_style::neox,
                       .activation = ffn_activation::gelu_tanh,
                       .qk_norm = true,
                       .post_norms = true,
                       .embd_scale = true,
                       .scale_queries = true,
                       .read_extra = read_gemma3};

}  // namespace hearth::arch

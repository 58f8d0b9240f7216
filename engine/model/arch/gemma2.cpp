// Gemma 2: Gemma with norms after the attention and FFN blocks, soft-capped attention scores
// and logits, and sliding-window attention on alternating layers (window 4096 and pattern 2
// unless the file says otherwise, as llama.cpp assumes). The attention scale is
// 1/sqrt(key_length), except for the 27B shape (46 layers): 1/sqrt(n_embd / n_head).
#include <cmath>

#include "gguf/gguf_file.h"
#include "model/arch/families.h"

namespace hearth::arch {

namespace {

void read_gemma2(const gguf_file& f, const std::string& p, hparams& hp) {
  hp.n_swa = read_optional_count(f, p + "attention.sliding_window", 4096);
  hp.swa_pattern = read_optional_count(f, p + "attention.sliding_window_pattern", 2);
  hp.rope_freq_base_swa = read_optional_positive_float(f, p + "rope.freq_base_swa", hp.rope_freq_base);
  hp.attn_softcap = read_optional_positive_float(f, p + "attn_logit_softcapping", 50.0f);
  hp.final_softcap = read_optional_positive_float(f, p + "final_logit_softcapping", 30.0f);
  if (hp.n_layer == 46) hp.attn_scale = 1.0f / std::sqrt(static_cast<float>(hp.n_embd / hp.n_head));
}

}  // namespace

const arch_desc gemma2{.name = "gemma2",
                       .rope = rope_style::neox,
                       .activation = ffn_activation::gelu_tanh,
                       .post_norms = true,
                       .embd_scale = true,
                       .scale_queries = true,
                       .read_extra = read_gemma2};

}  // namespace hearth::arch

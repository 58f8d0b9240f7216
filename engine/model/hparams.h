#pragma once
// Hyperparameters of a transformer, read from the `<arch>.*` GGUF metadata keys.
#include <cstdint>
#include <string>

#include "model/arch.h"

namespace hearth {

class gguf_file;

constexpr int64_t max_head_dim = 1024;

struct hparams {
  const arch_desc* arch = nullptr;  // never null after read_hparams
  std::string arch_name;    // general.architecture
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;  // context length the model was trained with
  // rope.scaling.original_context_length (default n_ctx_train): the context a longrope model
  // was pre-trained with; longer contexts rotate with its long frequency factors.
  int64_t n_ctx_orig = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_ff = 0;
  int64_t head_dim = 0;     // n_embd / n_head unless the file says otherwise
  int64_t rope_dim = 0;     // rotated dimensions of each head
  float rope_freq_base = 10000.0f;
  float rope_attn_factor = 1.0f;  // rope.scaling.attn_factor: scales RoPE's cos and sin (Phi-3.5 longrope)
  float rms_eps = 1e-5f;
  rope_style rope = rope_style::norm;
  float attn_scale = 0;     // of q·k; 1/sqrt(head_dim) unless the family says otherwise
  float attn_softcap = 0;   // scores become c * tanh(s / c); 0: none
  float final_softcap = 0;  // logits become c * tanh(l / c); 0: none
  // Sliding-window attention: a layer l with swa_layer(l) attends to the n_swa latest positions
  // (its own included) and rotates with rope_freq_base_swa. n_swa 0: every layer is global.
  int64_t n_swa = 0;
  // Which layers slide (llama.cpp's rule): l % pattern < pattern - 1; pattern 0: all of them.
  int64_t swa_pattern = 0;
  float rope_freq_base_swa = 10000.0f;

  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }
  bool swa_layer(int64_t l) const { return n_swa > 0 && (swa_pattern == 0 || l % swa_pattern < swa_pattern - 1); }
};

// Reads and checks the hyperparameters. Throws load_error naming the key on a missing or
// inconsistent value, and naming the architecture when it has no descriptor.
hparams read_hparams(const gguf_file& f);

// Key readers for the families' read_extra hooks; each throws load_error naming the key.
int64_t read_optional_count(const gguf_file& f, const std::string& key, int64_t fallback);
float read_optional_positive_float(const gguf_file& f, const std::string& key, float fallback);

}  // namespace hearth

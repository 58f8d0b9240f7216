#pragma once
// Hyperparameters of a transformer, read from the `<arch>.*` GGUF metadata keys.
#include <cstdint>
#include <string>

namespace hearth {

class gguf_file;

constexpr int64_t max_head_dim = 1024;

enum class model_arch { llama };
enum class rope_style { norm, neox };  // adjacent pairs (LLaMA) / split halves (NeoX)

struct hparams {
  model_arch arch = model_arch::llama;
  std::string arch_name;    // general.architecture
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;  // context length the model was trained with
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t n_ff = 0;
  int64_t head_dim = 0;     // n_embd / n_head unless the file says otherwise
  int64_t rope_dim = 0;     // rotated dimensions of each head
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-5f;
  rope_style rope = rope_style::norm;

  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }
};

// Reads and checks the hyperparameters. Throws load_error naming the key on a missing or
// inconsistent value.
hparams read_hparams(const gguf_file& f);

}  // namespace hearth

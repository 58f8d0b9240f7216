#pragma once
// A loaded model: the mapped GGUF file, its hyperparameters, its vocabulary and every weight
// bound by name, type and shape. Weights point into the mapping and stay in their stored type.
//
// Immutable after load(); shared read-only by every thread.
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gguf/gguf_file.h"
#include "model/hparams.h"
#include "model/pack_cache.h"
#include "tokenizer/vocab.h"

namespace hearth {

// A matrix of `rows` rows, each `cols` elements of `type`, rows `row_bytes` apart (ggml's ne[1]
// and ne[0]). It is a whole tensor or a range of its rows (a fused tensor's parts: Phi-3's Q, K,
// V in `attn_qkv`): `data` points at its first row either way. Vectors (norms, biases) are
// copied to float at load.
struct weight {
  const gguf_tensor* tensor = nullptr;
  ggml_type type = ggml_type::f32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
  // The same values repacked for the active SIMD kernels (kernels/packing.h), or null.
  const uint8_t* packed = nullptr;
  size_t packed_group_bytes = 0;
};

// Which of the optional vectors are present follows the architecture (model/arch.h); absent
// ones are empty.
struct layer_weights {
  std::vector<float> attn_norm;          // (n_embd)
  weight wq, wk, wv, wo;                 // (q_dim, n_embd), (kv_dim, n_embd) x2, (n_embd, q_dim)
  std::vector<float> bq, bk, bv;         // optional biases (q_dim), (kv_dim) x2
  std::vector<float> q_norm, k_norm;     // (head_dim) per-head RMSNorm weights (qk_norm families)
  std::vector<float> attn_post_norm;     // (n_embd) norm of the attention output (post_norms families)
  std::vector<float> ffn_norm;           // (n_embd)
  weight ffn_gate, ffn_up, ffn_down;     // (n_ff, n_embd) x2, (n_embd, n_ff)
  std::vector<float> ffn_post_norm;      // (n_embd) norm of the FFN output (post_norms families)
};

// Where to keep the repacked weights between starts (model/pack_cache.h).
struct pack_cache_options {
  std::filesystem::path path;  // the cache file (by convention MODEL.hearth-cache); empty: none
  // Told what became of the cache, a line at a time: mapped, refused and why, written or not
  // written and why. Called by load() and later by the thread that writes the cache.
  std::function<void(const std::string&)> log;
  // Use a cache only where the page cache maps at least 90% of it with 2 MiB pages (decode
  // streams every weight each step: through 4 KiB pages it is slower than from the arena's huge
  // pages). Off for tests of the file's handling on any file system.
  bool require_huge_pages = true;
};

class model {
 public:
  // Maps, validates and binds. Throws load_error naming the file and the key or tensor, or the
  // memory that repacking would need beyond what is available (available_memory()).
  // `threads`: how many threads repack the weights (0: one per core); the result is the same.
  // With a cache path, the packed weights are mapped from that file when it holds exactly what
  // repacking would make (and the page cache maps it with 2 MiB pages); otherwise they are
  // repacked, and a cache that is absent or stale is written meanwhile by a thread of the
  // model's own, which the model's destructor stops (the unfinished file is removed).
  static std::unique_ptr<model> load(const std::filesystem::path& path, int threads = 0,
                                     const pack_cache_options& cache = {});

  // Set when the mapped file was truncated or rewritten in place since load (see
  // gguf_file::change_on_disk): "model file <path> changed on disk while in use; restart hearth
  // (<what changed>)". Results computed from the weights since the change are garbage; the
  // model cannot recover. Cheap (one fstat); any thread.
  // Likewise when the mapped pack cache changed: "pack cache <path> changed on disk ...".
  std::optional<std::string> file_changed() const;

  const gguf_file& file() const { return file_; }
  const hparams& hp() const { return hp_; }
  const class vocab& vocab() const { return vocab_; }

  const weight& tok_embd() const { return tok_embd_; }  // (n_vocab, n_embd)
  const std::vector<float>& output_norm() const { return output_norm_; }
  const weight& output() const { return output_; }      // (n_vocab, n_embd); tok_embd when tied
  const std::vector<layer_weights>& layers() const { return layers_; }
  bool tied_output() const { return tied_output_; }
  // (rope_dim / 2) divisors of each RoPE frequency for sequences of up to `context_length`
  // positions, or empty: Llama 3's `rope_freqs`; for Phi-3 longrope files (llama.cpp's rule)
  // `rope_factors_long` when context_length exceeds hp().n_ctx_orig, else `rope_factors_short`.
  const std::vector<float>& rope_freq_factors(int64_t context_length) const {
    return context_length > hp_.n_ctx_orig && !rope_factors_long_.empty() ? rope_factors_long_ : rope_freq_factors_;
  }

  // Bytes of all weight tensors (what one decode step streams at most).
  size_t weight_bytes() const { return weight_bytes_; }
  size_t packed_bytes() const { return packed_bytes_; }
  // Whether the packed weights are mapped from a pack cache (rather than repacked at load).
  bool packed_from_cache() const { return pack_cache_.has_value(); }
  // Waits until the pack cache that load() began writing (if any) is written or has failed.
  void finish_pack_cache() {
    if (cache_writer_.joinable()) cache_writer_.join();
  }

 private:
  model(gguf_file f, hparams hp, class vocab v);
  void bind_weights();
  weight matrix(const std::string& name, int64_t rows, int64_t cols) const;
  // Rows [first, first + rows) of a tensor of `total_rows` rows: a view, no copy.
  weight rows_of(const std::string& name, int64_t total_rows, int64_t first, int64_t rows, int64_t cols) const;
  void bind_attention(layer_weights& L, const std::string& p) const;
  void bind_ffn(layer_weights& L, const std::string& p) const;
  void bind_rope_factors();
  std::vector<float> vector(const std::string& name, int64_t n, bool required = true) const;
  // Repacks the Q8_0/Q4_0 matrices when the active kernels read a packed layout; the file's
  // pages of a packed tensor are then released (they stay in the page cache, not in our RSS).
  // Rows are packed in groups of 16, shared out between `threads` threads; or mapped from the
  // cache (see load()).
  void pack_weights(int threads, const pack_cache_options& cache);
  pack_cache_key cache_key(const std::vector<weight*>& matrices, const std::vector<size_t>& offsets,
                           size_t payload_bytes) const;

  gguf_file file_;
  hparams hp_;
  class vocab vocab_;
  weight tok_embd_;
  std::vector<float> output_norm_;
  weight output_;
  bool tied_output_ = false;
  std::vector<float> rope_freq_factors_;  // `rope_freqs` or `rope_factors_short`
  std::vector<float> rope_factors_long_;  // Phi-3 longrope, or empty
  std::vector<layer_weights> layers_;
  size_t weight_bytes_ = 0;
  size_t packed_bytes_ = 0;
  struct free_deleter {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, free_deleter> packed_arena_;
  std::optional<pack_cache> pack_cache_;  // when the packed weights are mapped from one
  std::jthread cache_writer_;             // writing the cache from packed_arena_ (destroyed first)
};

}  // namespace hearth

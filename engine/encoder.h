#pragma once
// BERT-style text encoders (general.architecture "bert": the bge, all-MiniLM and similar
// embedding models): token + token-type + absolute position embeddings and a LayerNorm, then per
// layer non-causal multi-head attention with biases, a residual and a LayerNorm, a GELU FFN with
// biases, a residual and a LayerNorm (post-norm, as BERT); the last hidden states pooled by the
// file's <arch>.pooling_type (1 mean, 2 CLS, 3 last; absent: mean) and L2-normalized. Computed as
// llama.cpp's build_bert computes it; GELU is ggml's (row_ops.h).
//
// Weights are dequantized to F32 at load (F32 and F16 tensors; other types are refused), so the
// encoder suits the small embedding models it is for. Immutable after load; embed() is safe to
// call from many threads at once. Cost: O(layers * (n * dim^2 + n^2 * dim)) per input, on one
// thread (encoder_engine runs a batch's inputs on several), its dot products in 8 SIMD lanes.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pooling.h"
#include "tokenizer/vocab.h"

namespace hearth {

class gguf_file;

class bert_encoder {
 public:
  // Throws load_error naming the file and the field or tensor (absent, wrong shape or type).
  static bert_encoder load(const gguf_file& f);

  int64_t dim() const { return dim_; }
  int64_t context_length() const { return n_ctx_; }
  int32_t vocab_size() const { return n_vocab_; }
  pooling_type pooling() const { return pooling_; }  // mean, cls or last

  // The pooled, L2-normalized embedding (dim() floats) of one tokenized input (with its [CLS] and
  // [SEP] as the vocabulary adds them). Throws std::invalid_argument for an empty input, more
  // tokens than context_length(), or an id outside the vocabulary.
  std::vector<float> embed(std::span<const token_id> tokens) const;
  // The last layer's output for each token: tokens.size() rows of dim() floats, before pooling.
  // Throws as embed().
  std::vector<float> hidden_states(std::span<const token_id> tokens) const;

 private:
  struct norm {
    std::vector<float> w, b;
  };
  struct dense {
    std::vector<float> w, b;  // w: out rows of `in` floats
    int64_t in = 0, out = 0;
  };
  struct layer {
    dense q, k, v, o, up, down;
    norm attn_norm, out_norm;
  };

  void layer_norm(std::vector<float>& x, int64_t n, const norm& p) const;
  static void apply(const dense& d, const std::vector<float>& x, int64_t n, std::vector<float>& y);

  int64_t dim_ = 0, n_ctx_ = 0, n_ff_ = 0, n_head_ = 0;
  int32_t n_vocab_ = 0;
  float eps_ = 1e-12f;
  pooling_type pooling_ = pooling_type::mean;
  std::vector<float> tok_embd_, type_embd_, pos_embd_;
  norm embd_norm_;
  std::vector<layer> layers_;
};

}  // namespace hearth

#pragma once
// Perplexity, measured the standard way so figures compare across tools (llama.cpp's
// `llama-perplexity` computes the same): the tokenized text, BOS first when the vocabulary adds
// one, is cut into chunks of n_ctx tokens (a tail shorter than a chunk is dropped). Each chunk runs
// from an empty cache with its first token replaced by BOS, and only its second half is scored:
// the logits at positions n_ctx/2 .. n_ctx-2 predict the next token, so every scored prediction
// has at least n_ctx/2 tokens of context. Perplexity is exp(mean negative log-likelihood) over
// every scored prediction of every chunk.
//
// The same scored rows feed a KL-divergence comparison: a reference model's log-probabilities are
// saved once (logprob_writer) and another quantization of the model is compared with them row by
// row (logprob_reader, kl_stats), as quantization makers do.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "model/model.h"

namespace hearth {

struct perplexity_options {
  int64_t n_ctx = 128;      // tokens per chunk (>= 4, at most the model's trained context)
  // Tokens per forward pass; 0: n_ctx. Smaller than n_ctx: a chunk runs in several passes.
  // A multiple of n_ctx: that many chunks run side by side in one pass (same results: batch
  // invariance).
  int64_t n_batch = 0;
  int64_t max_chunks = -1;  // chunks to score at most; -1: all the text holds
  int threads = 1;
  ggml_type kv_type = ggml_type::f16;  // the KV cache's row type (kv_cache::type_problem)
};

// Sums of negative log-likelihoods (natural log) and their squares.
struct nll_stats {
  int64_t count = 0;
  double sum = 0, sum_sq = 0;

  void add(double nll) {
    ++count;
    sum += nll;
    sum_sq += nll * nll;
  }
  double mean() const { return count ? sum / static_cast<double>(count) : 0; }
  double ppl() const;
  // Standard error of ppl(): ppl * (standard error of the mean nll), the delta method; 0 with
  // fewer than two predictions.
  double ppl_stderr() const;
};

// What one chunk scored: row i's logits (n_vocab floats) predicted targets[i].
struct scored_chunk {
  int64_t index = 0;     // 0-based chunk number
  int64_t n_chunks = 0;  // chunks this run scores
  int64_t n_vocab = 0;
  std::span<const float> logits;  // targets.size() rows of n_vocab
  std::span<const token_id> targets;
};

// The number of chunks `n_tokens` tokens make with these options.
int64_t perplexity_chunks(int64_t n_tokens, const perplexity_options& o);

// Runs every chunk of `tokens` through the model and hands each chunk's scored rows to
// on_chunk, in order. Throws std::invalid_argument naming the problem when the options do not
// fit the model or the text is shorter than two chunks (too little to say anything).
void evaluate_chunks(const model& m, std::span<const token_id> tokens, const perplexity_options& o,
                     const std::function<void(const scored_chunk&)>& on_chunk);

// evaluate_chunks, summing each prediction's negative log-likelihood.
nll_stats measure_perplexity(const model& m, std::span<const token_id> tokens, const perplexity_options& o);

// -log softmax(logits)[target], computed in double.
double negative_log_likelihood(std::span<const float> logits, token_id target);

// log softmax(logits) into out (same size), computed in double, rounded to float.
void log_softmax(std::span<const float> logits, std::span<float> out);

// A log-probability file: what `hearth perplexity --save-logits` writes and --kl-divergence
// reads. Little-endian:
//   header  "HRTHLOGP", u32 version (1), u32 n_vocab, u32 n_ctx, u32 n_chunks,
//           u32 rows per chunk, then n_chunks * n_ctx i32: the tokens each chunk ran
//   rows    per scored row: f32 lo, f32 step, i32 argmax of the logits, then n_vocab u16 q with
//           log p ~ lo + q * step (16 bits over the row's top 24 nats: within step/2 ≈ 1.8e-4;
//           anything below lo, probability < e^-24 of the top token's, is stored as lo).
struct logprob_header {
  uint32_t n_vocab = 0, n_ctx = 0, n_chunks = 0, rows_per_chunk = 0;
  std::vector<token_id> tokens;  // n_chunks * n_ctx
};

// Writes to PATH.tmp, renamed to PATH by finish(): PATH is never half-written.
class logprob_writer {
 public:
  logprob_writer(std::filesystem::path path, const logprob_header& h);
  ~logprob_writer();
  logprob_writer(const logprob_writer&) = delete;
  logprob_writer& operator=(const logprob_writer&) = delete;

  void add_row(std::span<const float> logits);
  void finish();

 private:
  void write(const void* p, size_t n);

  std::filesystem::path path_, tmp_;
  std::FILE* f_ = nullptr;
  uint32_t n_vocab_;
  uint64_t rows_expected_, rows_ = 0;
  std::vector<float> logp_;
  std::vector<uint16_t> q_;
};

class logprob_reader {
 public:
  // Throws std::runtime_error naming the file and what is wrong with it.
  explicit logprob_reader(const std::filesystem::path& path);
  ~logprob_reader();
  logprob_reader(const logprob_reader&) = delete;
  logprob_reader& operator=(const logprob_reader&) = delete;

  const logprob_header& header() const { return h_; }
  // The next row's log-probabilities (n_vocab) and the reference's top token.
  void next_row(std::vector<float>& logp, token_id& argmax);

 private:
  std::filesystem::path path_;
  std::FILE* f_ = nullptr;
  logprob_header h_;
  std::vector<uint16_t> q_;
};

// A model's rows against a reference's (the file), as quantization makers compare them.
class kl_stats {
 public:
  // ref_logp: the reference's log-probabilities (renormalised here); logits: this model's row.
  void add(std::span<const float> ref_logp, token_id ref_argmax, std::span<const float> logits, token_id target);

  int64_t rows() const { return static_cast<int64_t>(kld_.size()); }
  double mean_kld() const;
  double mean_kld_stderr() const;
  double kld_quantile(double q) const;  // q in [0, 1]
  double max_kld() const;
  double same_top1() const;  // fraction of rows whose most likely token is the reference's
  double same_top1_stderr() const;
  const nll_stats& ref_nll() const { return ref_; }
  const nll_stats& nll() const { return own_; }

 private:
  std::vector<double> kld_;
  int64_t same_ = 0;
  nll_stats ref_, own_;
};

}  // namespace hearth

#include "perplexity.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "forward.h"
#include "kv_cache.h"
#include "row_ops.h"
#include "thread_pool.h"

namespace hearth {

namespace {

constexpr char logprob_magic[8] = {'H', 'R', 'T', 'H', 'L', 'O', 'G', 'P'};
constexpr uint32_t logprob_version = 1;
constexpr float logprob_span = 24.0f;  // nats below the top log-probability a row keeps
constexpr int64_t max_perplexity_batch = 4096;

int64_t rows_per_chunk(int64_t n_ctx) { return n_ctx - n_ctx / 2 - 1; }

// max(x) + log(sum(exp(x - max))), in double.
double log_sum_exp(std::span<const float> x) {
  const double mx = *std::max_element(x.begin(), x.end());
  double sum = 0;
  for (float v : x) sum += std::exp(static_cast<double>(v) - mx);
  return mx + std::log(sum);
}

}  // namespace

double nll_stats::ppl() const { return std::exp(mean()); }

double nll_stats::ppl_stderr() const {
  if (count < 2) return 0;
  const double m = mean();
  const double var = sum_sq / static_cast<double>(count) - m * m;
  return var > 0 ? ppl() * std::sqrt(var / static_cast<double>(count - 1)) : 0;
}

double negative_log_likelihood(std::span<const float> logits, token_id target) {
  return log_sum_exp(logits) - static_cast<double>(logits[static_cast<size_t>(target)]);
}

void log_softmax(std::span<const float> logits, std::span<float> out) {
  const double lse = log_sum_exp(logits);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(static_cast<double>(logits[i]) - lse);
}

int64_t perplexity_chunks(int64_t n_tokens, const perplexity_options& o) {
  const int64_t n = o.n_ctx > 0 ? n_tokens / o.n_ctx : 0;
  return o.max_chunks >= 0 ? std::min(n, o.max_chunks) : n;
}

void evaluate_chunks(const model& m, std::span<const token_id> tokens, const perplexity_options& o,
                     const std::function<void(const scored_chunk&)>& on_chunk) {
  const hparams& hp = m.hp();
  const int64_t n_ctx = o.n_ctx;
  if (n_ctx < 4) throw std::invalid_argument("the context must be at least 4 tokens (got " + std::to_string(n_ctx) + ")");
  if (n_ctx > hp.n_ctx_train) {
    throw std::invalid_argument("the context of " + std::to_string(n_ctx) + " tokens is longer than the model's " +
                                std::to_string(hp.n_ctx_train) + " (its context_length)");
  }
  const int64_t n_batch = o.n_batch > 0 ? o.n_batch : n_ctx;
  if (n_batch > n_ctx && n_batch % n_ctx != 0) {
    throw std::invalid_argument("the batch must be smaller than the context or a multiple of it (batch " +
                                std::to_string(n_batch) + ", context " + std::to_string(n_ctx) + ")");
  }
  if (n_batch > max_perplexity_batch) {
    throw std::invalid_argument("the batch of " + std::to_string(n_batch) + " tokens is over " +
                                std::to_string(max_perplexity_batch));
  }
  if (o.max_chunks == 0) throw std::invalid_argument("no chunks to score (0 asked for)");
  const auto n_tokens = static_cast<int64_t>(tokens.size());
  if (n_tokens < 2 * n_ctx) {
    throw std::invalid_argument("the text is " + std::to_string(n_tokens) + " tokens; a context of " +
                                std::to_string(n_ctx) + " needs at least " + std::to_string(2 * n_ctx));
  }
  const int64_t n_chunks = perplexity_chunks(n_tokens, o);
  const int64_t n_seq = std::max<int64_t>(1, n_batch / n_ctx);  // chunks side by side in one pass
  const int64_t pass = std::min(n_batch, n_ctx);                 // positions of a chunk per pass
  const int64_t first = n_ctx / 2, rows = rows_per_chunk(n_ctx), n_vocab = hp.n_vocab;
  constexpr int32_t block = 16;

  if (const char* why = kv_cache::type_problem(o.kv_type, hp.head_dim)) {
    throw std::invalid_argument(std::string("a KV cache of ") + std::string(ggml_type_name(o.kv_type)) + ": " + why +
                                " (this model's is " + std::to_string(hp.head_dim) + ")");
  }
  thread_pool pool(o.threads);
  kv_cache kv(hp, n_seq * ((n_ctx + block - 1) / block), block, o.kv_type);
  forward_pass fwd(m, pool, n_seq * pass, n_seq * std::min(pass, rows), n_ctx);
  const token_id bos = m.vocab().bos();
  const bool replace_bos = m.vocab().add_bos() && bos >= 0;

  std::vector<float> logits(static_cast<size_t>(n_seq * rows * n_vocab));  // (n_seq, rows, n_vocab)
  std::vector<batch_entry> batch;
  std::vector<int32_t> seqs;
  for (int64_t c0 = 0; c0 < n_chunks; c0 += n_seq) {
    const int64_t k = std::min(n_seq, n_chunks - c0);
    seqs.clear();
    for (int64_t s = 0; s < k; ++s) {
      seqs.push_back(kv.seq_create());
      if (!kv.seq_reserve(seqs.back(), n_ctx)) throw std::logic_error("perplexity: KV cache too small");
    }
    for (int64_t p0 = 0; p0 < n_ctx; p0 += pass) {
      const int64_t len = std::min(pass, n_ctx - p0);
      batch.clear();
      for (int64_t s = 0; s < k; ++s) {
        const int64_t start = (c0 + s) * n_ctx;
        for (int64_t j = p0; j < p0 + len; ++j) {
          const token_id t = j == 0 && replace_bos ? bos : tokens[static_cast<size_t>(start + j)];
          batch.push_back({t, static_cast<int32_t>(j), seqs[static_cast<size_t>(s)], j >= first && j < n_ctx - 1});
        }
      }
      const std::span<const float> out = fwd.run(kv, batch);
      size_t r = 0;
      for (int64_t s = 0; s < k; ++s) {
        for (int64_t j = p0; j < p0 + len; ++j) {
          if (j < first || j >= n_ctx - 1) continue;
          std::memcpy(&logits[static_cast<size_t>((s * rows + (j - first)) * n_vocab)],
                      out.data() + r * static_cast<size_t>(n_vocab), static_cast<size_t>(n_vocab) * sizeof(float));
          ++r;
        }
      }
    }
    for (int64_t s = 0; s < k; ++s) {
      kv.seq_free(seqs[static_cast<size_t>(s)]);
      const int64_t start = (c0 + s) * n_ctx;
      on_chunk({c0 + s, n_chunks, n_vocab,
                std::span<const float>(logits).subspan(static_cast<size_t>(s * rows * n_vocab),
                                                       static_cast<size_t>(rows * n_vocab)),
                tokens.subspan(static_cast<size_t>(start + first + 1), static_cast<size_t>(rows))});
    }
  }
}

nll_stats measure_perplexity(const model& m, std::span<const token_id> tokens, const perplexity_options& o) {
  nll_stats s;
  evaluate_chunks(m, tokens, o, [&](const scored_chunk& c) {
    for (size_t i = 0; i < c.targets.size(); ++i) {
      const auto n = static_cast<size_t>(c.n_vocab);
      s.add(negative_log_likelihood(c.logits.subspan(i * n, n), c.targets[i]));
    }
  });
  return s;
}

// --- log-probability files ---

logprob_writer::logprob_writer(std::filesystem::path path, const logprob_header& h)
    : path_(std::move(path)),
      tmp_(path_.string() + ".tmp"),
      n_vocab_(h.n_vocab),
      rows_expected_(static_cast<uint64_t>(h.n_chunks) * h.rows_per_chunk),
      logp_(h.n_vocab),
      q_(h.n_vocab) {
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) throw std::runtime_error("cannot write " + tmp_.string() + ": " + std::strerror(errno));
  write(logprob_magic, sizeof logprob_magic);
  const uint32_t fields[] = {logprob_version, h.n_vocab, h.n_ctx, h.n_chunks, h.rows_per_chunk};
  write(fields, sizeof fields);
  write(h.tokens.data(), h.tokens.size() * sizeof(token_id));
}

logprob_writer::~logprob_writer() {
  if (!f_) return;
  std::fclose(f_);
  std::error_code ec;
  std::filesystem::remove(tmp_, ec);
}

void logprob_writer::write(const void* p, size_t n) {
  if (std::fwrite(p, 1, n, f_) != n) throw std::runtime_error("cannot write " + tmp_.string() + ": " + std::strerror(errno));
}

void logprob_writer::add_row(std::span<const float> logits) {
  if (logits.size() != n_vocab_) throw std::invalid_argument("logprob_writer: a row of the wrong size");
  if (rows_ == rows_expected_) throw std::logic_error("logprob_writer: more rows than the header says");
  log_softmax(logits, logp_);
  const float top = *std::max_element(logp_.begin(), logp_.end());
  const float bottom = *std::min_element(logp_.begin(), logp_.end());
  const float lo = std::max(bottom, top - logprob_span);
  const float step = (top - lo) / 65535.0f;
  for (size_t i = 0; i < logp_.size(); ++i) {
    const float v = step > 0 ? std::nearbyint((logp_[i] - lo) / step) : 0.0f;
    q_[i] = static_cast<uint16_t>(std::clamp(v, 0.0f, 65535.0f));
  }
  const token_id top_token = static_cast<token_id>(argmax(logits));
  write(&lo, sizeof lo);
  write(&step, sizeof step);
  write(&top_token, sizeof top_token);
  write(q_.data(), q_.size() * sizeof(uint16_t));
  ++rows_;
}

void logprob_writer::finish() {
  if (rows_ != rows_expected_) {
    throw std::logic_error("logprob_writer: " + std::to_string(rows_) + " rows written, the header says " +
                           std::to_string(rows_expected_));
  }
  const bool ok = std::fflush(f_) == 0;
  std::fclose(f_);
  f_ = nullptr;
  if (!ok) throw std::runtime_error("cannot write " + tmp_.string() + ": " + std::strerror(errno));
  std::filesystem::rename(tmp_, path_);
}

logprob_reader::logprob_reader(const std::filesystem::path& path) : path_(path) {
  auto bad = [&](const std::string& why) { return std::runtime_error(path_.string() + ": " + why); };
  f_ = std::fopen(path.c_str(), "rb");
  if (!f_) throw bad(std::string("cannot open: ") + std::strerror(errno));
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw bad("cannot read its size: " + ec.message());
  char magic[8];
  uint32_t fields[5];
  if (std::fread(magic, 1, 8, f_) != 8 || std::memcmp(magic, logprob_magic, 8) != 0) {
    throw bad("not a log-probability file (hearth perplexity --save-logits writes them)");
  }
  if (std::fread(fields, sizeof fields, 1, f_) != 1) throw bad("truncated header");
  if (fields[0] != logprob_version) throw bad("version " + std::to_string(fields[0]) + " (expected 1)");
  h_.n_vocab = fields[1];
  h_.n_ctx = fields[2];
  h_.n_chunks = fields[3];
  h_.rows_per_chunk = fields[4];
  constexpr uint32_t limit = 1u << 24;
  if (h_.n_vocab == 0 || h_.n_vocab > limit) throw bad("n_vocab " + std::to_string(h_.n_vocab) + " out of range");
  if (h_.n_ctx < 4 || h_.n_ctx > limit) throw bad("n_ctx " + std::to_string(h_.n_ctx) + " out of range");
  if (h_.n_chunks == 0 || h_.n_chunks > limit) throw bad("n_chunks " + std::to_string(h_.n_chunks) + " out of range");
  if (h_.rows_per_chunk != rows_per_chunk(h_.n_ctx)) {
    throw bad("rows per chunk " + std::to_string(h_.rows_per_chunk) + " (expected " +
              std::to_string(rows_per_chunk(h_.n_ctx)) + " for n_ctx " + std::to_string(h_.n_ctx) + ")");
  }
  // Every count is below 2^24, so these products fit in 64 bits.
  const uint64_t n_tokens = static_cast<uint64_t>(h_.n_chunks) * h_.n_ctx;
  const uint64_t head = 8 + sizeof fields + n_tokens * sizeof(token_id);
  const uint64_t row_bytes = 12 + 2 * static_cast<uint64_t>(h_.n_vocab);
  const uint64_t n_rows = static_cast<uint64_t>(h_.n_chunks) * h_.rows_per_chunk;
  if (size < head || (size - head) / row_bytes != n_rows || (size - head) % row_bytes != 0) {
    throw bad("size " + std::to_string(size) + " bytes does not match its header (" + std::to_string(n_rows) +
              " rows of " + std::to_string(row_bytes) + " bytes after " + std::to_string(head) + ")");
  }
  h_.tokens.resize(n_tokens);
  if (std::fread(h_.tokens.data(), sizeof(token_id), n_tokens, f_) != n_tokens) throw bad("truncated tokens");
  for (token_id t : h_.tokens) {
    if (t < 0 || static_cast<uint32_t>(t) >= h_.n_vocab) throw bad("token id " + std::to_string(t) + " out of range");
  }
  q_.resize(h_.n_vocab);
}

logprob_reader::~logprob_reader() {
  if (f_) std::fclose(f_);
}

void logprob_reader::next_row(std::vector<float>& logp, token_id& argmax) {
  float lo = 0, step = 0;
  if (std::fread(&lo, sizeof lo, 1, f_) != 1 || std::fread(&step, sizeof step, 1, f_) != 1 ||
      std::fread(&argmax, sizeof argmax, 1, f_) != 1 || std::fread(q_.data(), 2, q_.size(), f_) != q_.size()) {
    throw std::runtime_error(path_.string() + ": truncated row");
  }
  if (!std::isfinite(lo) || !std::isfinite(step) || step < 0 || argmax < 0 ||
      static_cast<uint32_t>(argmax) >= h_.n_vocab) {
    throw std::runtime_error(path_.string() + ": a corrupt row (lo " + std::to_string(lo) + ", step " +
                             std::to_string(step) + ", top token " + std::to_string(argmax) + ")");
  }
  logp.resize(h_.n_vocab);
  for (size_t i = 0; i < q_.size(); ++i) {
    logp[i] = lo + static_cast<float>(q_[i]) * step;
    // Finite lo and step can still overflow (step 1e38 at level 65535): the writer never makes such a row.
    if (!std::isfinite(logp[i])) {
      throw std::runtime_error(path_.string() + ": a corrupt row (lo " + std::to_string(lo) + ", step " +
                               std::to_string(step) + " overflow at level " + std::to_string(q_[i]) + ")");
    }
  }
}

// --- KL divergence ---

void kl_stats::add(std::span<const float> ref_logp, token_id ref_argmax, std::span<const float> logits,
                   token_id target) {
  const double ref_lse = log_sum_exp(ref_logp), own_lse = log_sum_exp(logits);
  double kld = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double ref = static_cast<double>(ref_logp[i]) - ref_lse;
    kld += std::exp(ref) * (ref - (static_cast<double>(logits[i]) - own_lse));
  }
  kld_.push_back(kld);
  same_ += static_cast<token_id>(argmax(logits)) == ref_argmax;
  ref_.add(ref_lse - static_cast<double>(ref_logp[static_cast<size_t>(target)]));
  own_.add(own_lse - static_cast<double>(logits[static_cast<size_t>(target)]));
}

double kl_stats::mean_kld() const {
  if (kld_.empty()) return 0;
  double s = 0;
  for (double v : kld_) s += v;
  return s / static_cast<double>(kld_.size());
}

double kl_stats::mean_kld_stderr() const {
  if (kld_.size() < 2) return 0;
  const double m = mean_kld();
  double ss = 0;
  for (double v : kld_) ss += (v - m) * (v - m);
  const auto n = static_cast<double>(kld_.size());
  return std::sqrt(ss / (n - 1) / n);
}

double kl_stats::kld_quantile(double q) const {
  if (kld_.empty()) return 0;
  std::vector<double> s = kld_;
  std::sort(s.begin(), s.end());
  const auto i = static_cast<size_t>(std::clamp(q, 0.0, 1.0) * static_cast<double>(s.size() - 1) + 0.5);
  return s[i];
}

double kl_stats::max_kld() const { return kld_.empty() ? 0 : *std::max_element(kld_.begin(), kld_.end()); }

double kl_stats::same_top1() const {
  return kld_.empty() ? 0 : static_cast<double>(same_) / static_cast<double>(kld_.size());
}

double kl_stats::same_top1_stderr() const {
  if (kld_.size() < 2) return 0;
  const double p = same_top1();
  return std::sqrt(p * (1 - p) / static_cast<double>(kld_.size() - 1));
}

}  // namespace hearth

#pragma once
// What a scheduler needs from an inference engine: sequences in a shared KV block pool, one
// forward pass over a batch drawn from many sequences, and the bytes of each token.
//
// model_engine is the real one (a model, its forward pass and KV cache); tests drive schedulers
// with deterministic fakes. Not thread-safe: one thread (the scheduler's) owns an engine.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "forward.h"
#include "kv_cache.h"
#include "memory_plan.h"
#include "model/model.h"
#include "pooling.h"
#include "thread_pool.h"
#include "token_decoder.h"

namespace hearth {

// Each token's bytes and whether it ends a generation come from token_text.
class batch_engine : public token_text {
 public:
  virtual ~batch_engine() = default;

  virtual int32_t vocab_size() const = 0;
  virtual int64_t context_length() const = 0;  // positions one sequence may hold
  virtual int64_t max_batch() const = 0;       // rows one forward pass takes
  virtual int64_t max_logit_rows() const = 0;  // rows of one pass that may ask for logits

  // The KV block pool (see kv_cache).
  virtual int32_t block_size() const = 0;
  virtual int64_t total_blocks() const = 0;
  virtual int64_t free_blocks() const = 0;
  virtual int32_t seq_create() = 0;
  virtual void seq_free(int32_t seq) = 0;
  virtual bool seq_reserve(int32_t seq, int64_t n_positions) = 0;
  // Prompt sharing between the choices of one request (kv_cache::seq_share and copy_block):
  // `dst` (new, empty) holds the first n_blocks blocks of `src` too; seq_copy_block copies the
  // block at `index` of src's list over dst's own. An engine that cannot share says so
  // (shares_blocks() false; seq_share then returns false, changing nothing): each choice then
  // computes its own prompt.
  virtual bool shares_blocks() const { return false; }
  virtual bool seq_share(int32_t /*src*/, int32_t /*dst*/, int64_t /*n_blocks*/) { return false; }
  virtual void seq_copy_block(int32_t /*src*/, int32_t /*dst*/, int64_t /*index*/) {}
  // Drops positions >= n_positions of seq, releasing whole blocks it no longer needs
  // (kv_cache::seq_truncate); an engine that cannot share blocks may ignore it.
  virtual void seq_truncate(int32_t /*seq*/, int64_t /*n_positions*/) {}
  // The cache's row type ("F16", "Q8_0", "Q4_0") and bytes per position of context (every
  // layer's keys and values); 0 for an engine without a cache of its own.
  virtual std::string kv_type_name() const { return "F16"; }
  virtual uint64_t kv_bytes_per_token() const { return 0; }

  // One forward pass; see forward_pass::run for the contract.
  virtual std::span<const float> forward(std::span<const batch_entry> batch) = 0;

  // Embeddings. How the model pools hidden states into an embedding (none: it cannot embed),
  // and the width of a hidden row (0 without embeddings).
  virtual pooling_type pooling() const { return pooling_type::none; }
  virtual int64_t hidden_dim() const { return 0; }
  // The last forward pass's hidden rows: for each entry with `hidden` set, in batch order,
  // hidden_dim() floats (the final-normed residual stream of a decoder; an encoder's last layer
  // output). Valid until the next forward().
  virtual std::span<const float> hidden() const { return {}; }
  // False for an encoder (an embedding model that cannot generate: it has no logits) whose
  // attention looks both ways: each sequence's rows in one batch must then be its whole input,
  // positions 0..n-1, and it takes no further rows.
  virtual bool generates() const { return true; }

  // Why results can no longer be trusted, or nullopt: the model file changed on disk while in
  // use (model::file_changed). The scheduler asks after every forward pass; a forward pass
  // whose weights changed under it still returns (garbage) rather than crash.
  virtual std::optional<std::string> model_changed() const { return std::nullopt; }
};

struct model_engine_options {
  int threads = 1;
  int64_t context_length = 0;    // positions per sequence; 0: the model's trained context
  int64_t kv_blocks = 0;         // size of the KV pool
  int32_t block_size = 16;
  int64_t max_batch = 512;
  int64_t max_logit_rows = 64;
  ggml_type kv_type = ggml_type::f16;  // the KV cache's row type
  // How embeddings pool hidden states; nullopt: as the file's <arch>.pooling_type says (none
  // when absent: a text-generation model, which then embeds nothing).
  std::optional<pooling_type> pooling;

  // The engine a memory plan was made for (see plan_memory).
  static model_engine_options planned(const memory_settings& s, const memory_plan& p) {
    return {s.threads, p.context_length, p.kv_blocks, p.block_size, s.max_batch, s.max_logit_rows, p.kv_type, {}};
  }
};

class model_engine final : public batch_engine {
 public:
  // `pool`: compute threads shared with another engine driven by the same thread (a draft model
  // beside its target: one pool, so neither's idle workers spin while the other computes); null:
  // its own pool of o.threads.
  model_engine(const model& m, const model_engine_options& o, std::shared_ptr<thread_pool> pool = nullptr);
  std::shared_ptr<thread_pool> pool() const { return pool_; }

  int32_t vocab_size() const override { return static_cast<int32_t>(model_.hp().n_vocab); }
  int64_t context_length() const override { return context_length_; }
  int64_t max_batch() const override { return fwd_.max_batch(); }
  int64_t max_logit_rows() const override { return max_logit_rows_; }
  int32_t block_size() const override { return kv_.block_size(); }
  int64_t total_blocks() const override { return kv_.n_blocks(); }
  int64_t free_blocks() const override { return kv_.free_blocks(); }
  int32_t seq_create() override { return kv_.seq_create(); }
  void seq_free(int32_t seq) override { kv_.seq_free(seq); }
  bool seq_reserve(int32_t seq, int64_t n) override { return kv_.seq_reserve(seq, n); }
  bool shares_blocks() const override { return true; }
  bool seq_share(int32_t src, int32_t dst, int64_t n_blocks) override {
    kv_.seq_share(src, dst, n_blocks);
    return true;
  }
  void seq_copy_block(int32_t src, int32_t dst, int64_t index) override { kv_.copy_block(src, dst, index); }
  void seq_truncate(int32_t seq, int64_t n_positions) override { kv_.seq_truncate(seq, n_positions); }
  std::string kv_type_name() const override { return std::string(ggml_type_name(kv_.type())); }
  uint64_t kv_bytes_per_token() const override { return kv_cache::bytes_per_position(model_.hp(), kv_.type()).value(); }
  std::span<const float> forward(std::span<const batch_entry> batch) override { return fwd_.run(kv_, batch); }
  pooling_type pooling() const override { return pooling_; }
  int64_t hidden_dim() const override { return model_.hp().n_embd; }
  std::span<const float> hidden() const override { return fwd_.hidden(); }
  std::string token_bytes(token_id id) const override { return model_.vocab().token_to_bytes(id); }
  bool is_eog(token_id id) const override { return model_.vocab().is_eog(id); }
  std::optional<std::string> model_changed() const override { return model_.file_changed(); }

  const kv_cache& kv() const { return kv_; }

 private:
  const model& model_;
  int64_t context_length_;
  std::shared_ptr<thread_pool> pool_;
  kv_cache kv_;
  int64_t max_logit_rows_;
  pooling_type pooling_;
  forward_pass fwd_;
};

}  // namespace hearth

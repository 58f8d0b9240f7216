#pragma once
// A BERT-style encoder (encoder.h) behind the batch_engine interface, so the daemon's embedding
// requests for such a model run through the same scheduler as generations do: queued, batched,
// cancelled, bounded and counted alike.
//
// An encoder generates nothing (generates() is false, it produces no logits) and its attention
// looks both ways, so each sequence's rows in one batch are its whole input (positions 0..n-1,
// in order) and a sequence takes no rows after them. Sequences hold no KV cache: their blocks
// only bound the positions in flight (`sequences` inputs of the whole context). The inputs of one
// batch are encoded in parallel, one per thread. Not thread-safe: one thread owns it.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "batch_engine.h"
#include "encoder.h"
#include "thread_pool.h"
#include "tokenizer/vocab.h"

namespace hearth {

class encoder_engine final : public batch_engine {
 public:
  // `e` and `v` must outlive the engine. Throws std::invalid_argument if sequences < 1 or the
  // vocabulary and the encoder disagree on the number of tokens.
  encoder_engine(const bert_encoder& e, const vocab& v, int threads, int64_t sequences);

  int32_t vocab_size() const override { return encoder_.vocab_size(); }
  int64_t context_length() const override { return encoder_.context_length(); }
  int64_t max_batch() const override { return encoder_.context_length() * sequences_; }
  // Never asked for (an encoder has no logits); one per sequence so the scheduler runs them all.
  int64_t max_logit_rows() const override { return sequences_; }
  int32_t block_size() const override { return kBlock; }
  int64_t total_blocks() const override { return total_blocks_; }
  int64_t free_blocks() const override { return total_blocks_ - used_blocks_; }
  int32_t seq_create() override;
  void seq_free(int32_t seq) override;
  bool seq_reserve(int32_t seq, int64_t n_positions) override;
  std::string kv_type_name() const override { return "none"; }

  // Throws std::invalid_argument if an entry asks for logits, a sequence's rows are not its
  // whole input in order, a sequence already ran, or a token is outside the vocabulary.
  std::span<const float> forward(std::span<const batch_entry> batch) override;
  pooling_type pooling() const override { return encoder_.pooling(); }
  int64_t hidden_dim() const override { return encoder_.dim(); }
  std::span<const float> hidden() const override { return hidden_; }
  bool generates() const override { return false; }

  std::string token_bytes(token_id id) const override { return vocab_.token_to_bytes(id); }
  bool is_eog(token_id id) const override { return vocab_.is_eog(id); }

 private:
  static constexpr int32_t kBlock = 16;
  struct slot {
    bool live = false;
    bool ran = false;  // encoded once: an encoder takes no more rows
    int64_t blocks = 0;
  };

  const bert_encoder& encoder_;
  const vocab& vocab_;
  int64_t sequences_;
  int64_t total_blocks_;
  int64_t used_blocks_ = 0;
  thread_pool pool_;
  std::vector<slot> slots_;    // by sequence id
  std::vector<float> hidden_;  // (rows with hidden set, dim) of the last forward()
};

}  // namespace hearth

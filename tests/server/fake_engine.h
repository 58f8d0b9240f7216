#pragma once
// A deterministic batch_engine for scheduler tests: no model, no KV memory, just bookkeeping.
//
// The next token of a sequence is a pure function of that sequence's token history (every token
// fed at positions 0..pos), so a request's greedy output is known in advance and cannot depend on
// what else shares a batch. By default it is a hash of the history, drawn from the plain ASCII
// ids; a script (a prompt and the continuation that must follow it) overrides it, to place EOG,
// stop strings and split UTF-8 characters exactly. The logits are that token at 4.0, the other
// plain tokens between 0 and 2 (a function of the history too, so seeded sampling varies) and
// every other id at -30.
//
// The fake checks the forward contract as a real engine relies on it and records violations
// instead of crashing: batch size and logit rows within limits, each sequence's rows at exactly
// the next position (never skipped, never repeated), within its reserved capacity. It also keeps
// a log of which sequence lifetimes each batch held, for tests of admission and batching.
//
// Every method locks one mutex: the scheduler thread drives the engine while test threads
// inspect it.
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "batch_engine.h"

namespace hearth::test {

struct fake_engine_options {
  int64_t context_length = 4096;
  int64_t max_batch = 64;
  int64_t max_logit_rows = 16;
  int32_t block_size = 4;
  int64_t total_blocks = 4096;
  // Simulated cost: each forward call sleeps step_us plus row_us per row (for the scheduler's
  // step-time measurements); 0: returns at once.
  int64_t step_us = 0;
  int64_t row_us = 0;
};

class fake_engine final : public batch_engine {
 public:
  static constexpr int32_t n_vocab = 48;
  static constexpr token_id eog = 0;
  static constexpr token_id first_plain = 1, last_plain = 34;  // ASCII pieces the hash draws

  // The bytes of every id (see fake_engine.cpp): 1..26 "a".."z", 27 " ", 28 "He", 29 "llo",
  // 30 " world", 31 "!", 32 "\n", 33 "ST", 34 "OP", 35 + 36 "é" split, 37 + 38 "€" split,
  // 39 + 40 "🙂" split, 41 "é" whole, 42..47 "A".."F"; 0 is EOG (no bytes).
  static std::string bytes_of(token_id id);

  struct script {
    std::vector<token_id> prompt;
    std::vector<token_id> continuation;
  };
  // The scripts are fixed before the engine is handed to a scheduler.
  explicit fake_engine(fake_engine_options o = {}, std::vector<script> scripts = {});

  // The token the fake makes most likely after `history` (the definition, for expectations).
  token_id next_token(std::span<const token_id> history) const;
  // The logits the fake gives after `history` (the definition, for expectations of sampling).
  std::vector<float> logits(std::span<const token_id> history) const;
  // The greedy output for `prompt`: up to max_tokens tokens, ending early after an EOG token.
  std::vector<token_id> greedy(const std::vector<token_id>& prompt, int32_t max_tokens) const;

  // The forward call (1-based) that throws instead of running; 0: none.
  void fail_on_call(int64_t n);
  // Takes n free blocks out of the pool for good, as if something else held them.
  void hold_blocks(int64_t n);
  // The next seq_reserve fails although the blocks are free (an engine out of memory).
  void fail_next_reserve();

  // One seq_create .. seq_free span of a kv sequence id (ids are reused; lifetimes are not).
  struct lifetime {
    int32_t seq = 0;
    std::vector<token_id> history;  // the token fed at each position so far
    int64_t capacity = 0;           // positions reserved
    bool freed = false;
    uint64_t hash = 14695981039346656037ull;  // of history (FNV-1a over the ids)
  };
  std::vector<lifetime> lifetimes() const;
  // For each forward call that ran, the lifetimes (indices into lifetimes()) it held.
  std::vector<std::vector<int>> batch_log() const;
  // For each forward call that ran, the rows of each lifetime it held (batch_log's order).
  std::vector<std::vector<int>> row_log() const;
  // The rows of the batch that failed on purpose.
  std::vector<batch_entry> failed_rows() const;
  std::vector<std::string> violations() const;
  int64_t max_rows_seen() const;
  int64_t max_logit_rows_seen() const;
  // Some batch had a row at position 0 of one sequence (a request joining) beside a row of a
  // sequence that was already running.
  bool joined_while_running() const;
  // The lifetime whose history starts with `prompt`, or nullopt.
  std::optional<int> lifetime_of(const std::vector<token_id>& prompt) const;

  int32_t vocab_size() const override { return n_vocab; }
  int64_t context_length() const override { return options_.context_length; }
  int64_t max_batch() const override { return options_.max_batch; }
  int64_t max_logit_rows() const override { return options_.max_logit_rows; }
  int32_t block_size() const override { return options_.block_size; }
  int64_t total_blocks() const override { return options_.total_blocks; }
  int64_t free_blocks() const override;
  int32_t seq_create() override;
  void seq_free(int32_t seq) override;
  bool seq_reserve(int32_t seq, int64_t n_positions) override;
  // Forgets positions >= n_positions (the next row must then be at n_positions) and releases
  // the blocks no longer needed, as kv_cache does.
  void seq_truncate(int32_t seq, int64_t n_positions) override;
  std::span<const float> forward(std::span<const batch_entry> batch) override;
  std::string token_bytes(token_id id) const override { return bytes_of(id); }
  bool is_eog(token_id id) const override { return id == eog; }

 private:
  bool check_rows(std::span<const batch_entry> batch);
  // next_token() given the hash of the history, kept per lifetime so long sequences stay cheap.
  token_id next_after(std::span<const token_id> history, uint64_t hash) const;
  void fill_logits(std::span<const token_id> history, uint64_t hash, float* row) const;
  void violation(std::string what) { violations_.push_back(std::move(what)); }

  const fake_engine_options options_;
  const std::vector<script> scripts_;
  mutable std::mutex mu_;
  int64_t free_blocks_;
  std::vector<int> live_;  // kv seq id -> index into lifetimes_, -1 when free
  std::vector<lifetime> lifetimes_;
  std::vector<std::vector<int>> batch_log_;
  std::vector<std::vector<int>> row_log_;
  std::vector<batch_entry> failed_rows_;
  std::vector<std::string> violations_;
  std::vector<float> logits_;
  int64_t calls_ = 0;
  int64_t fail_on_call_ = 0;
  bool fail_next_reserve_ = false;
  int64_t max_rows_seen_ = 0;
  int64_t max_logit_rows_seen_ = 0;
  bool joined_while_running_ = false;
};

}  // namespace hearth::test

#pragma once
// Continuous batching. One thread owns the engine (model, KV cache, compute pool) and every
// sequence. Each step it: drops cancelled sequences; admits queued requests whose KV blocks fit
// (prompt + max_tokens, reserved up front, first come first served); builds ONE batch of one
// decode token per running sequence plus prompt chunks of new ones, up to the engine's batch
// size; runs one forward pass; samples each sequence that produced logits; and hands tokens to
// each request's sink. Requests join at the next step and leave when done, without waiting for
// each other.
//
// Thread-safety: submit(), stats() and shutdown() may be called from any thread; everything
// else happens on the scheduler thread. No exception crosses threads: failures become finish
// events with reason `error`.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "batch_engine.h"
#include "sampler.h"
#include "token_sink.h"

namespace hearth {

class metrics;

// Set by whoever owns the request (a session whose client left, a WebSocket cancel message);
// the scheduler notices at its next step.
using cancel_flag = std::shared_ptr<std::atomic<bool>>;

struct generation_request {
  std::vector<token_id> prompt;   // not empty; prompt.size() + max_tokens <= context length
  sampling_params sampling;       // already validated
  int32_t max_tokens = 16;        // >= 1
  std::vector<std::string> stop;  // already validated
  cancel_flag cancel;             // may be null
};

struct scheduler_options {
  int32_t max_sequences = 8;      // sequences running at once
  int32_t queue_limit = 64;       // requests waiting beyond those; more are refused
};

struct scheduler_stats {
  int64_t queued = 0;
  int64_t running = 0;
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_free = 0;
  int64_t steps = 0;
};

enum class submit_status {
  accepted,       // the sink will see tokens and exactly one on_finish
  queue_full,     // refused: the queue holds queue_limit requests (HTTP 429)
  too_long,       // refused: prompt + max_tokens exceeds the context or the whole KV pool (400)
  shutting_down,  // refused: the daemon is stopping (503)
};

class scheduler {
 public:
  // Starts the scheduler thread. `m` may be null (no metrics).
  scheduler(std::unique_ptr<batch_engine> engine, const scheduler_options& o, metrics* m = nullptr);
  ~scheduler();  // shutdown() then join
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  // Never blocks on the engine. On anything but `accepted`, the sink is not called.
  submit_status submit(generation_request r, std::shared_ptr<token_sink> sink);

  // Stops accepting; queued and running requests finish with reason `cancelled` at the next
  // step. Returns once the scheduler thread has ended. Idempotent.
  void shutdown();

  scheduler_stats stats() const;
  int64_t context_length() const { return context_length_; }
  int32_t vocab_size() const { return vocab_size_; }

 private:
  struct sequence;
  struct pending {
    generation_request request;
    std::shared_ptr<token_sink> sink;
    std::chrono::steady_clock::time_point submitted;
  };

  void run();
  // One continuous-batching step; returns false when there was nothing to do.
  bool step();
  void admit();
  void finish(sequence& s, proto::finish_reason reason, std::string error = {});

  std::unique_ptr<batch_engine> engine_;
  scheduler_options options_;
  metrics* metrics_;
  const int64_t context_length_;
  const int32_t vocab_size_;

  mutable std::mutex mu_;  // guards queue_, stopping_, stats_
  std::condition_variable wake_;
  std::deque<pending> queue_;
  bool stopping_ = false;
  scheduler_stats stats_;

  // Scheduler thread only.
  std::vector<std::unique_ptr<sequence>> running_;
  std::vector<batch_entry> batch_;

  std::thread thread_;
};

}  // namespace hearth

#pragma once
// Steering a running generation (WebSocket sessions: update, append, pause, resume). The front
// end puts a change in the request's steering box (scheduler::steer); the scheduler applies the
// box's changes in order at its next step, before that step's rows are chosen, and tells the
// request's sink each change's outcome (token_sink::on_steered) between its tokens: every token
// after an acknowledgement was made under the change, every token before it without.
//
// What each change does (see scheduler.h, "Steerable generations", for the scheduler's side):
// - update: the sampling fields given (temperature, top_k, top_p, min_p; the penalties and seed
//   cannot change), the stop strings and max_tokens, from the next token on. A max_tokens at or
//   below the tokens already generated ends the generation with `length`; new stop strings are
//   matched against the text held back for the old ones too, and may end it with `stop`.
// - append: tokens fed after everything the sequence holds (the token it sampled last first), as
//   input: not shown, counted in usage.prompt_tokens, seen by the penalties; the next token is
//   sampled after them. Text held back for stop strings is released (a stop string does not match
//   across outside text).
// - pause / resume: a paused generation gets no rows, keeping its slot and KV blocks so it goes
//   on at once; its deadline still runs.
// A change the scheduler cannot make (invalid values, an append that leaves no room in the context,
// an append to a constrained generation) is refused with a reason and changes nothing. Changes
// still in the box when the generation ends are dropped: its finish answers them.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proto/generation.h"
#include "tokenizer/vocab.h"

namespace hearth {

using proto::steer_kind;

struct steer_op {
  steer_kind kind = steer_kind::update;
  proto::generation_update update;  // update: the fields given change, the others stay
  std::vector<token_id> tokens;     // append: the tokens to feed (not empty)
};

// The outcome of one change, for the sink: `error` empty when it was made; else why not, with
// `code` "context_length_exceeded" when the context has no room for it (else "").
struct steer_result {
  steer_kind kind = steer_kind::update;
  std::string error;
  std::string code;
};

// One generation's changes waiting for the scheduler. Thread-safe.
class steering_box {
 public:
  void push(steer_op op) {
    std::lock_guard lock(mu_);
    ops_.push_back(std::move(op));
    pending_.store(true, std::memory_order_release);
  }
  // Every change waiting, oldest first; cheap when there is none.
  std::vector<steer_op> take() {
    if (!pending_.load(std::memory_order_acquire)) return {};
    std::lock_guard lock(mu_);
    pending_.store(false, std::memory_order_relaxed);
    return std::exchange(ops_, {});
  }

 private:
  std::mutex mu_;
  std::vector<steer_op> ops_;
  std::atomic<bool> pending_{false};
};

}  // namespace hearth

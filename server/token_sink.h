#pragma once
// Where a running generation's output goes. The scheduler thread calls a sink; the sink hands
// the event to its consumer (an HTTP or WebSocket session) by posting onto that session's
// executor, so it never blocks the scheduler and never touches a socket itself.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proto/generation.h"
#include "steering.h"
#include "tokenizer/vocab.h"

namespace hearth {

struct token_event {
  token_id id = 0;
  // Text this token releases: empty while bytes are held back (an incomplete UTF-8 character,
  // or a possible start of a stop string); may carry text of earlier tokens once released.
  std::string text;
  // With log-probabilities asked for: this token's and the most likely alternatives'.
  std::optional<proto::token_logprobs_entry> logprobs;
};

struct finish_event {
  proto::finish_reason reason = proto::finish_reason::stop;
  std::string text;   // held-back text released at the end (never part of a stop string)
  std::string error;  // reason == error: what went wrong, for the client
  std::string stop_sequence;  // reason == stop by a stop string: that string ("" otherwise)
  std::vector<float> embedding;  // an embedding request's vector (reason == stop)
  proto::usage usage;
  proto::timings timings;
};

class token_sink {
 public:
  virtual ~token_sink() = default;
  // Scheduler thread only; must not block. Returns true when the token was taken (handed on to
  // the consumer). Returns false, taking nothing, when the consumer is gone, cancelled, or has
  // fallen too far behind: the scheduler then ends the sequence with `cancelled`, without
  // counting the refused token in usage and without releasing held-back text.
  virtual bool on_token(const token_event& e) = 0;
  // Scheduler thread only; exactly once per submitted request, after every on_token.
  virtual void on_finish(const finish_event& e) = 0;
  // Scheduler thread only, while the request waits to start: its place in the queue (0: next)
  // and the estimated seconds until it starts (negative: no estimate yet), when the place
  // changes and every second otherwise. Must not block.
  virtual void on_queued(int64_t /*position*/, double /*estimated_start_s*/) {}
  // Scheduler thread only, for a request with a steering box: the outcome of each change, in the
  // order they were pushed, between on_token calls (steering.h). Must not block.
  virtual void on_steered(const steer_result& /*result*/) {}
};

}  // namespace hearth

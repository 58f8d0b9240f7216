#pragma once
// One admitted request on the scheduler thread: its KV sequence, decoder (sampler and text
// pipeline, see token_decoder.h), position counter and timestamps. Scheduler thread only.
//
// Positions: `n_fed` counts the positions written to the KV cache, prompt tokens first, then
// generated tokens. The next row of this sequence is always at position n_fed, so no position is
// ever skipped or repeated, whatever batch the row lands in.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pooling.h"
#include "prompt_lookup.h"
#include "scheduler.h"
#include "token_decoder.h"

namespace hearth {

// A draft length for a verification step: the largest 2^n - 1 (1, 3, 7, 15 ...) no more than
// `wanted` and `max`, and at least 1. The step then has 2^n rows of the sequence (the pending
// token and the drafts), which the engine's tiles of 8, 4, 2 and 1 rows take with no row left
// for a pass of its own: measured on the 1.1B Q4_0 model with every draft kept, 7 drafts gave
// 1.13x the tokens per second of 8 (hearth bench -d 7 and -d 8; docs/performance.md).
inline int32_t tile_draft_length(int32_t wanted, int32_t max) {
  int32_t n = 1;
  while (2 * n + 1 <= std::min(wanted, max)) n = 2 * n + 1;
  return n;
}

struct scheduler::sequence {
  using clock = std::chrono::steady_clock;

  // Takes the request over. Throws std::invalid_argument (from sampler or stop_matcher) if the
  // request's parameters are invalid; the caller then finishes it with `error`.
  // `trie`: the vocabulary's token trie, needed if the request has a grammar.
  sequence(pending&& p, int32_t n_vocab, std::shared_ptr<const token_trie> trie, int32_t kv_seq,
           clock::time_point admitted);

  int32_t prompt_size() const { return static_cast<int32_t>(prompt.size()); }
  // Positions fed without sampling: the prompt, or after a preemption everything that had been
  // fed before it (refill_to), recomputed.
  int32_t fill_end() const { return std::max(prompt_size(), refill_to); }
  bool prefilling() const { return n_fed < fill_end(); }
  // Rows still to feed without sampling: 0 once it decodes (n_fed then counts generated tokens).
  int32_t fill_left() const { return prefilling() ? fill_end() - n_fed : 0; }
  // Whether the row at fill_end() - 1 asks for logits: only if no token was sampled yet (a
  // sequence preempted while decoding already holds its next token, last_token).
  bool fill_samples() const { return last_token < 0; }
  // The token fed at position pos < fill_end(): the prompt's, then the generated ones.
  token_id token_at(int32_t pos) const {
    return pos < prompt_size() ? prompt[static_cast<size_t>(pos)] : generated[static_cast<size_t>(pos - prompt_size())];
  }
  // Whether it may be preempted now: it holds blocks, and no other sequence waits on its prompt
  // (choices) or its rows (an embedding, whose pooled rows cannot be taken back).
  bool preemptible() const { return !parked && !awaiting_prompt && forks.empty() && !pool; }
  // Whether it may get rows this step: running, not paused, not waiting for another's prompt.
  bool runnable() const { return !done && !parked && !paused && !awaiting_prompt; }
  bool cancel_requested() const { return cancel && cancel->load(std::memory_order_relaxed); }

  // Counts a generated token that was taken (delivered, or EOG) at `now`: it is fed next. While
  // drafts are verified, a token equal to the draft at verify_row counts as accepted.
  void record_token(token_id t, clock::time_point now);
  // The finish event for `reason` at `now`: held-back text (none after a stop match, none when
  // the consumer refused a token), usage, timings.
  finish_event make_finish(proto::finish_reason reason, std::string error, clock::time_point now);

  // The request.
  std::vector<token_id> prompt;
  int32_t max_tokens;
  cancel_flag cancel;
  std::shared_ptr<token_sink> sink;

  // Generation state.
  int32_t kv_seq;            // -1 while parked
  int32_t n_fed = 0;         // positions in the KV cache
  int32_t n_in_batch = 0;    // rows in the batch being run (0: not in it)
  int32_t n_generated = 0;   // tokens taken: delivered to the sink, or EOG
  token_id last_token = -1;  // the token the next decode row feeds
  std::vector<token_id> generated;  // every token taken or appended, in order (fed at prompt_size() + i)
  // Preemption (see scheduler.h): a parked sequence holds no KV blocks and no place in batches;
  // resumed, it recomputes positions [0, refill_to) before decoding again.
  bool parked = false;
  bool yielded = false;      // parked to give its running slot to another client (fair shares):
                             // it holds no slot, and resumes when its client's turn comes again
  int32_t refill_to = 0;
  int32_t preemptions = 0;
  bool done = false;         // on_finish was called; removed at the end of the step
  bool refused = false;      // the sink refused a token: nothing more reaches the consumer
  token_decoder decoder;
  std::optional<showing_token_text> shown;  // with generation_request::shown_tokens: the text to decode with
  std::optional<embedding_pool> pool;       // an embedding request: its hidden rows, pooled
  std::vector<float> embedding;             // ... and the vector, once the prompt is in
  // A request's choices: the first holds the others (forks) while it computes the prompt they
  // share; each of them waits (awaiting_prompt, its n_fed still 0) until release_forks.
  std::vector<sequence*> forks;
  sequence* fork_parent = nullptr;
  bool awaiting_prompt = false;

  client_share client;  // fair shares (see scheduler.h)

  // Context overflow: the prompt's length as submitted (usage; `prompt` becomes the window after
  // a slide), whether the window rolls, the head it keeps, and the tokens dropped (by the front
  // end from the prompt, and by slides).
  int32_t prompt_tokens = 0;
  bool rolling = false;
  int32_t roll_keep = 0;
  int32_t truncated_tokens = 0;
  std::optional<clock::time_point> deadline;  // generation_request::deadline

  // Steering (steering.h): the box, whether it is paused, and the tokens appended (fed after
  // generated ones, in `generated`, and counted in usage.prompt_tokens).
  std::shared_ptr<steering_box> steer;
  bool paused = false;

  // Speculative decoding (see scheduler.h): the settings, the tokens drafted into the batch being
  // run (fed after last_token, at n_fed + 1...), the draft length the recent verifications allow
  // (draft_cap), steps to skip drafting after drafts that were all rejected (draft_pause, growing
  // with draft_misses in a row), and the totals for usage.
  proto::speculative_settings spec;
  std::vector<token_id> draft;
  int32_t draft_cap = 0;
  int32_t draft_pause = 0;
  int32_t draft_misses = 0;
  int32_t drafted = 0;
  int32_t accepted = 0;   // counted as the token is recorded, so a finish on it counts it
  int32_t verify_row = -1;  // the drafted row whose token is being sampled (-1: none)
  int32_t draft_row = 0;    // the batch row of draft[0]
  // Mode draft: the draft model's kv sequence (-1: none yet) and the positions it was fed (the
  // same tokens as this sequence's, at the same positions).
  int32_t draft_seq = -1;
  int32_t draft_fed = 0;
  // The context prompt lookup searches: the window, then everything generated or appended.
  token_context context() const { return {prompt, generated}; }

  // Prefix cache: the request's partition and consent, and the prompt positions it read.
  std::string cache_partition;
  bool cache = true;
  int32_t cached_tokens = 0;

  // Timestamps (see proto::timings).
  clock::time_point submitted, admitted, first_token, latest_token;
};

// Why a request cannot run (a prompt token outside [0, n_vocab), invalid sampling parameters or
// stop strings), or nullopt. The front end validates first; this keeps the thread safe anyway.
// has_draft: the scheduler has a draft model (speculative mode draft is possible).
std::optional<std::string> request_error(const generation_request& r, int32_t n_vocab, bool has_draft);

// The finish event of a request that never ran (refused at shutdown or cancelled while queued).
finish_event unadmitted_finish(size_t prompt_tokens, proto::finish_reason reason,
                               std::chrono::steady_clock::time_point submitted,
                               std::chrono::steady_clock::time_point now);

}  // namespace hearth

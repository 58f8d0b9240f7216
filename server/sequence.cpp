#include "sequence.h"

#include <algorithm>

namespace hearth {

namespace {

using clock = std::chrono::steady_clock;

double ms_between(clock::time_point a, clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Items per second over `ms`; 0 when nothing was timed (a rate over no time means nothing).
double per_second(double items, double ms) { return ms > 0 ? items * 1000.0 / ms : 0.0; }

}  // namespace

scheduler::sequence::sequence(pending&& p, int32_t n_vocab, std::shared_ptr<const token_trie> trie, int32_t kv,
                              clock::time_point now)
    : prompt(std::move(p.request.prompt)),
      max_tokens(p.request.max_tokens),
      cancel(std::move(p.request.cancel)),
      sink(std::move(p.sink)),
      kv_seq(kv),
      decoder(p.request.sampling, n_vocab, std::move(p.request.stop), p.request.top_logprobs,
              {std::move(p.request.constraint), std::move(trie)}),
      submitted(p.submitted),
      admitted(now) {
  decoder.accept_prompt(prompt);
  cache_partition = std::move(p.request.cache_partition);
  cache = p.request.cache && !p.request.embed;
  client = std::move(p.request.client);
  prompt_tokens = prompt_size();
  rolling = p.request.rolling && !p.request.embed;
  truncated_tokens = p.request.truncated_tokens;
  deadline = p.request.deadline;
  steer = std::move(p.request.steer);
  spec = p.request.speculative;
  draft_cap = tile_draft_length(3, spec.max_tokens);  // grows while drafts hold (verify_drafts)
}

void scheduler::sequence::record_token(token_id t, clock::time_point now) {
  if (n_generated == 0) first_token = now;
  latest_token = now;
  ++n_generated;
  last_token = t;
  generated.push_back(t);
  if (verify_row >= 0 && static_cast<size_t>(verify_row) < draft.size() && draft[static_cast<size_t>(verify_row)] == t) {
    ++accepted;
  }
}

finish_event scheduler::sequence::make_finish(proto::finish_reason reason, std::string error,
                                              clock::time_point now) {
  finish_event e;
  e.reason = reason;
  e.error = std::move(error);
  // Held-back text is real output unless a stop string matched (then it is part of the stop
  // string or follows it) or the consumer refused a token (it takes nothing more).
  if (!refused) e.text = decoder.finish();
  if (reason == proto::finish_reason::stop && decoder.stopped()) e.stop_sequence = decoder.matched_stop();
  e.embedding = std::move(embedding);
  e.usage.prompt_tokens = prompt_tokens;
  e.usage.completion_tokens = n_generated;
  e.usage.cached_tokens = cached_tokens;
  e.usage.truncated_tokens = truncated_tokens;
  e.usage.drafted_tokens = drafted;
  e.usage.accepted_tokens = accepted;

  // Each phase is timed to its end, or to the finish if it never ended (cancelled in prefill).
  proto::timings& t = e.timings;
  t.queue_ms = ms_between(submitted, admitted);
  const clock::time_point prompt_end = n_generated > 0 ? first_token : now;
  t.prompt_ms = ms_between(admitted, prompt_end);
  t.prompt_per_second = per_second(std::min(n_fed, prompt_tokens), t.prompt_ms);
  if (n_generated > 0) {
    t.predicted_ms = ms_between(first_token, latest_token);
    t.predicted_per_second = per_second(n_generated - 1, t.predicted_ms);
  }
  return e;
}

std::optional<std::string> request_error(const generation_request& r, int32_t n_vocab, bool has_draft) {
  for (size_t i = 0; i < r.prompt.size(); ++i) {
    if (r.prompt[i] < 0 || r.prompt[i] >= n_vocab) {
      return "prompt token " + std::to_string(i) + " is " + std::to_string(r.prompt[i]) +
             ", outside the vocabulary [0, " + std::to_string(n_vocab) + ")";
    }
  }
  for (const auto& [id, text] : r.shown_tokens) {
    if (id < 0 || id >= n_vocab) return "shown token " + std::to_string(id) + " is outside the vocabulary";
  }
  if (auto e = validate(r.sampling)) return e;
  if (r.speculative.max_tokens < 1 || r.speculative.max_tokens > proto::max_speculative_tokens) {
    return "speculative.max_tokens must be from 1 to " + std::to_string(proto::max_speculative_tokens);
  }
  if (r.speculative.mode == proto::speculative_mode::draft && !has_draft) {
    return "speculative mode \"draft\" needs a draft model, and this scheduler has none";
  }
  return validate_stops(r.stop);
}

finish_event unadmitted_finish(size_t prompt_tokens, proto::finish_reason reason,
                               clock::time_point submitted, clock::time_point now) {
  finish_event e;
  e.reason = reason;
  e.usage.prompt_tokens = static_cast<int32_t>(prompt_tokens);
  e.timings.queue_ms = ms_between(submitted, now);
  return e;
}

}  // namespace hearth

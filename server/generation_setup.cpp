#include "generation_setup.h"

#include "proto/generation_json.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "proto/context_overflow.h"

namespace hearth {

// config/server_config.cpp, which does not see proto, writes --draft-max's range as 1..16.
static_assert(proto::max_speculative_tokens == 16);

proto::limits model_limits(const app& a) {
  proto::limits lim{a.vocabulary->size(), a.engine_scheduler->context_length(),
                    std::min(a.config.max_choices, a.config.parallel),
                    proto::context_overflow_from(a.config.context_overflow).value_or(proto::context_overflow::error)};
  lim.speculative = speculative_default(a.config);
  lim.draft_model = !a.config.draft_model.empty();
  return lim;
}

proto::speculative_settings speculative_default(const server_config& c) {
  return {proto::speculative_mode_from(c.speculative).value_or(proto::speculative_mode::off), c.draft_max};
}

std::vector<token_id> tokenize_prompt(const app& a, const std::optional<std::string>& text,
                                      const std::optional<std::vector<int32_t>>& tokens) {
  if (tokens) return *tokens;
  return a.vocabulary->tokenize(text.value_or(""), true, false);
}

std::variant<generation_request, proto::api_error> make_generation(const app& a, std::vector<token_id> prompt,
                                                                   std::optional<int32_t> max_tokens,
                                                                   const sampling_params& sampling,
                                                                   std::vector<std::string> stop, cancel_flag cancel,
                                                                   proto::context_overflow overflow) {
  const int64_t n_ctx = a.engine_scheduler->context_length();
  if (prompt.empty()) return proto::bad_request("prompt", "the prompt is empty");
  int32_t truncated = 0;
  if (overflow != proto::context_overflow::error) {
    // The answer's room: max_tokens, or without it (and for a rolling window, at most) a quarter
    // of the context; the prompt is cut from its middle to leave it.
    const int64_t quarter = std::max<int64_t>(1, n_ctx / 4);
    const int64_t answer = max_tokens ? (overflow == proto::context_overflow::rolling ? std::min<int64_t>(*max_tokens, quarter)
                                                                                      : *max_tokens)
                                      : quarter;
    if (n_ctx - answer >= 2) truncated = proto::truncate_middle(prompt, n_ctx - answer);
  }
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  if (n_prompt >= n_ctx) {
    return proto::api_error{400,
                            "the prompt is " + std::to_string(n_prompt) + " tokens, the context length is " +
                                std::to_string(n_ctx),
                            "invalid_request_error", "prompt", "context_length_exceeded"};
  }
  const bool rolling = overflow == proto::context_overflow::rolling;
  // Without max_tokens: until the end of the context, or with a rolling window, until the end of
  // text (or a stop string, or the client's cancel).
  const int64_t n_gen = max_tokens ? *max_tokens : rolling ? std::numeric_limits<int32_t>::max() : n_ctx - n_prompt;
  if (!rolling && n_prompt + n_gen > n_ctx) {
    return proto::api_error{400,
                            "the prompt (" + std::to_string(n_prompt) + " tokens) plus max_tokens (" +
                                std::to_string(n_gen) + ") exceeds the context length (" + std::to_string(n_ctx) + ")",
                            "invalid_request_error", "max_tokens", "context_length_exceeded"};
  }
  generation_request r;
  r.prompt = std::move(prompt);
  r.sampling = sampling;
  r.max_tokens = static_cast<int32_t>(n_gen);
  r.stop = std::move(stop);
  r.cancel = std::move(cancel);
  r.rolling = rolling;
  r.truncated_tokens = truncated;
  return r;
}

proto::api_error late_error(const submit_estimate& e, int64_t deadline_ms) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "estimated to finish in %.1f s (to start in %.1f s), after its deadline of %lld ms",
                e.finish_s, e.start_s, static_cast<long long>(deadline_ms));
  return {429, std::string("the server cannot meet this request's deadline: ") + buf, "rate_limit_error", "deadline_ms",
          "deadline_unmeetable"};
}

proto::api_error refusal(const app& a, submit_status s, size_t prompt_tokens, int32_t max_tokens, int32_t choices) {
  switch (s) {
    case submit_status::late:  // answered with late_error by the caller, which has the estimate
      return late_error({}, 0);
    case submit_status::queue_full:
      return {429, "the server is busy: " + std::to_string(a.config.queue_limit) +
                       " requests are already waiting; retry shortly",
              "rate_limit_error", "", "queue_full"};
    case submit_status::too_long:
      return {400, "the prompt (" + std::to_string(prompt_tokens) + " tokens) plus max_tokens (" +
                       std::to_string(max_tokens) + ")" +
                       (choices > 1 ? " for each of " + std::to_string(choices) + " choices" : std::string()) +
                       " does not fit in the KV cache; lower max_tokens",
              "invalid_request_error", "max_tokens", "context_length_exceeded"};
    case submit_status::shutting_down:
    case submit_status::accepted:
      break;
  }
  return proto::shutdown_error();
}

}  // namespace hearth

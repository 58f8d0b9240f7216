#pragma once
// What every generation endpoint (HTTP and WebSocket) does before and at submission: tokenize
// the prompt, check it against the context, build the scheduler's request, and turn a refusal
// into the error the client gets.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "app.h"
#include "proto/api_error.h"
#include "proto/request_fields.h"

namespace hearth {

// What requests are validated against: the model's vocabulary and context, and the server's
// defaults (context_overflow, speculative decoding and whether it has a draft model).
proto::limits model_limits(const app& a);

// The server's speculative decoding for requests that do not say (--speculative, --draft-max).
proto::speculative_settings speculative_default(const server_config& c);

// The prompt's tokens: the given ids, or the text tokenized with BOS (control-token texts in
// it stay text).
std::vector<token_id> tokenize_prompt(const app& a, const std::optional<std::string>& text,
                                      const std::optional<std::vector<int32_t>>& tokens);

// The request, or under context_overflow error a 400 naming the prompt length, max_tokens and
// the context length. max_tokens absent: until the end of the context (rolling: unbounded).
// truncate_middle and rolling cut the prompt's middle (proto/context_overflow.h) to leave the
// answer max_tokens, or without it a quarter of the context (rolling: at most a quarter, as the
// window slides); the request counts what was cut in truncated_tokens.
std::variant<generation_request, proto::api_error> make_generation(const app& a, std::vector<token_id> prompt,
                                                                   std::optional<int32_t> max_tokens,
                                                                   const sampling_params& sampling,
                                                                   std::vector<std::string> stop, cancel_flag cancel,
                                                                   proto::context_overflow overflow = proto::context_overflow::error);

// The 429 of a request estimated to finish after its deadline (submit_status::late).
proto::api_error late_error(const submit_estimate& e, int64_t deadline_ms);

// The error for a refused submit (429 queue full, 400 too long for the KV cache, 503 stopping).
proto::api_error refusal(const app& a, submit_status s, size_t prompt_tokens, int32_t max_tokens, int32_t choices = 1);

}  // namespace hearth

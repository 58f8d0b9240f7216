#pragma once
// JSON of the generation vocabulary shared by every API (generation.h), and how OpenAI
// endpoints report each way a generation can end.
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "proto/api_error.h"
#include "proto/generation.h"

namespace hearth::proto {

// {"prompt_tokens": n, "completion_tokens": n, "total_tokens": n}, plus what is not zero:
// "prompt_tokens_details" {"cached_tokens", "truncated_tokens"} (each when some were), and with
// speculative decoding (drafted_tokens > 0) "completion_tokens_details" (add_prediction_tokens)
// and "speculative" (add_speculative_usage).
nlohmann::json to_json(const usage& u);
// The usage to_json() wrote (what it left out is 0), for adding up the usage of several choices.
usage usage_from_json(const nlohmann::json& j);
// Speculative decoding's counts in a usage object, when tokens were drafted (none otherwise):
// - OpenAI's Predicted Outputs names, into a details object (completion_tokens_details,
//   Responses' output_tokens_details): "accepted_prediction_tokens": accepted,
//   "rejected_prediction_tokens": drafted - accepted;
// - hearth's own, into the usage object: "speculative": {"drafted_tokens", "accepted_tokens"}.
void add_prediction_tokens(nlohmann::json& details, const usage& u);
void add_speculative_usage(nlohmann::json& usage_object, const usage& u);
// {"queue_ms", "prompt_ms", "prompt_per_second", "predicted_ms", "predicted_per_second"};
// non-finite values (a rate over 0 ms) become null.
nlohmann::json to_json(const timings& t);

// Log-probabilities in each API's shape (entries in generation order). A token's text is its
// bytes (invalid UTF-8 becomes U+FFFD when serialized); "bytes" carries them exactly.
// - chat: {"content": [{"token", "logprob", "bytes": [..], "top_logprobs": [{"token", "logprob",
//   "bytes"}]}], "refusal": null}
// - completions: {"tokens": [..], "token_logprobs": [..], "top_logprobs": [{token: logprob}],
//   "text_offset": [..]}, offsets counted in bytes from `text_offset`.
// - native: [{"id", "token", "logprob", "top_logprobs": [{"id", "token", "logprob"}]}]
nlohmann::json chat_logprobs_json(const std::vector<token_logprobs_entry>& entries);
nlohmann::json completion_logprobs_json(const std::vector<token_logprobs_entry>& entries, size_t text_offset);
nlohmann::json native_logprobs_json(const std::vector<token_logprobs_entry>& entries);

// What OpenAI endpoints (/v1/completions, /v1/chat/completions) send for each finish_reason:
// - stop (end of text or a stop string): finish_reason "stop".
// - length (max_tokens reached, or the context is full): finish_reason "length".
// - cancelled: the client left (nothing reaches it). OpenAI has no such value, so instead of a
//   finishing response the server answers with openai_error_for(): 503 before the headers, or a
//   `data: {"error": ...}` SSE event mid-stream.
// - shutdown: likewise, with shutdown_error() (503, code server_shutting_down).
// - error: likewise, openai_error_for(): 500 server_error carrying the detail.
// Returns nullopt for cancelled, shutdown and error.
std::optional<std::string_view> openai_finish_reason(finish_reason r);

// The error OpenAI endpoints send when a generation ends cancelled, by shutdown or in error
// (see above); `detail` is appended to the message.
api_error openai_error_for(finish_reason r, std::string_view detail);

// What every API answers when the daemon is stopping: 503 server_error, code
// "server_shutting_down" (for a request refused at the door or a generation ended by shutdown).
api_error shutdown_error();

}  // namespace hearth::proto

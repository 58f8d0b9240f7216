#pragma once
// The native HTTP API: POST /v1/generate, /v1/tokenize, /v1/detokenize. Requests follow the
// conventions of json_body.h; every parse_* returns the request or a 400 api_error whose param
// names the field.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/api_error.h"
#include "proto/generation.h"
#include "grammar.h"
#include "proto/request_fields.h"
#include "sampler.h"

namespace hearth::proto {

// POST /v1/generate
struct generate_request {
  std::optional<std::string> prompt;           // exactly one of prompt / tokens is set
  std::optional<std::vector<int32_t>> tokens;  // non-empty, ids in [0, n_vocab)
  std::optional<int32_t> max_tokens;           // in [1, n_ctx]; absent: until end of text/context
  sampling_params sampling;  // llama-server's defaults (sampler.h); seed always concrete
  bool cache = true;  // "cache": false keeps it out of the prefix cache
  context_overflow overflow = context_overflow::error;  // "context_overflow" (request_fields.h)
  std::optional<int64_t> deadline_ms;  // "deadline_ms" (request_fields.h)
  speculative_settings speculative;  // "speculative" (request_fields.h): the server's default filled in
  std::vector<std::string> stop;  // at most 4, none empty
  bool stream = false;
  int32_t top_logprobs = -1;      // "logprobs": N alternatives (or true: 0); -1: none
  std::shared_ptr<const grammar> constraint;  // "grammar" or "json_schema" (constraint.h); null: none
};
result<generate_request> parse_generate(std::string_view body, const limits& lim);
// The same fields from an already parsed object (the WebSocket "generate" message); `raw`: the
// text it was parsed from, if at hand (it keeps a json_schema's property order, constraint.h).
result<generate_request> generate_from_json(const nlohmann::json& object, const limits& lim, std::string_view raw = {});

// POST /v1/tokenize {"content": str, "add_special": bool = false, "parse_special": bool = false}
struct tokenize_request {
  std::string content;
  bool add_special = false;    // add BOS/EOS as the model asks
  bool parse_special = false;  // control-token texts in content become those tokens
};
result<tokenize_request> parse_tokenize(std::string_view body);
nlohmann::json tokenize_response(const std::vector<int32_t>& tokens);  // {"tokens": [..]}

// POST /v1/detokenize {"tokens": [..]} (may be empty)
struct detokenize_request {
  std::vector<int32_t> tokens;
};
result<detokenize_request> parse_detokenize(std::string_view body, const limits& lim);
nlohmann::json detokenize_response(std::string_view content);  // {"content": str}

// Non-streamed /v1/generate answer:
//   {"text", "tokens": [ids], "finish_reason": "stop"|"length"|"cancelled"|"error",
//    "usage": {..}, "timings": {..}}
// With logprobs asked for, also "logprobs": native_logprobs_json() (generation_json.h).
nlohmann::json generate_response(std::string_view text, const std::vector<int32_t>& tokens,
                                 finish_reason reason, const usage& u, const timings& t,
                                 const std::vector<token_logprobs_entry>* logprobs = nullptr);
// One streamed token: {"token": {"id": n, "text": str}}; text may be "" while held back. With
// logprobs asked for, the token object also has "logprob" and "top_logprobs" (its native entry).
nlohmann::json generate_token_event(int32_t id, std::string_view text,
                                    const token_logprobs_entry* logprobs = nullptr);
// Last streamed event: {"done": true, "text": held-back text released at the end,
//   "finish_reason", "usage", "timings"} plus "error": {"message": str} when reason is error,
//   or shutdown_error()'s {"message", "type", "param", "code": "server_shutting_down"} when
//   reason is shutdown.
nlohmann::json generate_final_event(finish_reason reason, const usage& u, const timings& t,
                                    std::string_view text = {}, std::string_view error = {});

}  // namespace hearth::proto

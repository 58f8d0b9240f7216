#pragma once
// The OpenAI-compatible HTTP API: POST /v1/completions, POST /v1/chat/completions,
// GET /v1/models. Requests follow json_body.h's conventions; every parse_* returns the request
// or a 400 api_error whose param names the field.
//
// Beyond OpenAI's fields these endpoints accept llama-server's sampling extensions (top_k,
// min_p, repeat_penalty, repeat_last_n), defaulting to "off". Log-probabilities follow OpenAI:
// chat's "logprobs": true with "top_logprobs" 0..20, completions' "logprobs": 0..20; every
// generated token gets an entry (one that completes a stop string included), EOG excepted.
// Options that would change the response's shape are refused with 400 "<field> is not
// supported": n != 1, echo, suffix, best_of != 1, non-empty logit_bias and the deprecated
// `functions` (tools, tool_choice and parallel_tool_calls are read: tools.h). `model` is optional and not checked (one model per daemon).
// How each finish_reason is reported: generation_json.h.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar.h"
#include "proto/api_error.h"
#include "proto/chat_message.h"
#include "proto/generation.h"
#include "proto/request_fields.h"
#include "proto/tools.h"
#include "sampler.h"

namespace hearth::proto {

// OpenAI's sampling defaults: temperature 1, top_p 1, top_k 0 (off), min_p 0 (off), no
// penalties. seed is left for read_sampling to fill.
sampling_params openai_sampling_defaults();

// POST /v1/completions. prompt: a string, an array of token ids, or an array holding one of
// those (several prompts per request are refused).
struct completion_request {
  std::string model;
  std::optional<std::string> prompt;           // exactly one of prompt / tokens is set
  std::optional<std::vector<int32_t>> tokens;  // non-empty, ids in [0, n_vocab)
  int32_t max_tokens = 16;                     // OpenAI's default; in [1, n_ctx] when given
  sampling_params sampling = openai_sampling_defaults();
  bool cache = true;  // "cache": false keeps it out of the prefix cache
  context_overflow overflow = context_overflow::error;  // "context_overflow" (request_fields.h)
  std::optional<int64_t> deadline_ms;  // "deadline_ms" (request_fields.h)
  speculative_settings speculative;  // "speculative" (request_fields.h): the server's default filled in
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int32_t top_logprobs = -1;   // "logprobs": N alternatives per token; -1: none (read_count_logprobs)
  int32_t n = 1;               // choices, 1..limits::max_choices
  std::shared_ptr<const grammar> constraint;  // response_format, grammar or json_schema (constraint.h)
};
result<completion_request> parse_completion(std::string_view body, const limits& lim);

// POST /v1/chat/completions. messages[i].content: a string, an array of {"type": "text",
// "text": str} parts (joined without separator), or null/absent for assistant messages.
struct chat_request {
  std::string model;
  std::vector<chat_message> messages;  // non-empty
  std::optional<int32_t> max_tokens;   // max_completion_tokens or max_tokens; absent: until
                                       // end of text or context
  sampling_params sampling = openai_sampling_defaults();
  bool cache = true;  // "cache": false keeps it out of the prefix cache
  context_overflow overflow = context_overflow::error;  // "context_overflow" (request_fields.h)
  std::optional<int64_t> deadline_ms;  // "deadline_ms" (request_fields.h)
  speculative_settings speculative;  // "speculative" (request_fields.h): the server's default filled in
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;
  int32_t top_logprobs = -1;  // "logprobs": true with "top_logprobs"; -1: none (read_chat_logprobs)
  int32_t n = 1;              // choices, 1..limits::max_choices
  // "reasoning_format": "auto" (default) or "deepseek" report a reasoning model's thinking as
  // reasoning_content (reasoning.h); "none" leaves it in content.
  bool split_reasoning = true;
  // "chat_template_kwargs" (as llama-server): extra variables for the chat template, e.g.
  // {"enable_thinking": true}; an object whose keys are not the template's own variables.
  nlohmann::json template_kwargs = nlohmann::json::object();
  std::shared_ptr<const grammar> constraint;  // response_format, grammar or json_schema (constraint.h)
  tool_request tools;  // tools, tool_choice, parallel_tool_calls (tools.h)
};
result<chat_request> parse_chat(std::string_view body, const limits& lim);

// Response builders. `created` is Unix seconds (unix_time_now()); ids come from ids.h
// ("cmpl-..." for completions, "chatcmpl-..." for chat). finish_reason is rendered by
// openai_finish_reason(): cancelled and error, which OpenAI endpoints report as errors
// instead, would render as null. `include_usage` adds "usage": null to a chunk, as OpenAI does
// on every chunk but the usage chunk when stream_options.include_usage is set.

// {"id", "object": "text_completion", "created", "model",
//  "choices": [{"text", "index": 0, "logprobs": null, "finish_reason"}], "usage"}
// `logprobs`: what goes in each choice's "logprobs" (generation_json.h's shapes), null without.
nlohmann::json completion_response(std::string_view id, int64_t created, std::string_view model,
                                   std::string_view text, finish_reason reason, const usage& u,
                                   nlohmann::json logprobs = nullptr);
// Streamed: the same without "usage"; finish_reason null until the last chunk.
nlohmann::json completion_chunk(std::string_view id, int64_t created, std::string_view model,
                                std::string_view text, std::optional<finish_reason> reason,
                                bool include_usage = false, nlohmann::json logprobs = nullptr);
// The chunk before [DONE] with stream_options.include_usage: "choices": [] and "usage".
nlohmann::json completion_usage_chunk(std::string_view id, int64_t created,
                                      std::string_view model, const usage& u);

// {"id", "object": "chat.completion", "created", "model", "choices": [{"index": 0,
//  "message": {"role": "assistant", "content"}, "logprobs": null, "finish_reason"}], "usage"}
// `reasoning`: the message's reasoning_content, left out when empty. `calls`: the message's
// tool_calls ([{"id", "type": "function", "function": {"name", "arguments"}}]); with calls,
// empty content is null and finish_reason "stop" or "length" is reported as "tool_calls".
nlohmann::json chat_response(std::string_view id, int64_t created, std::string_view model,
                             std::string_view content, finish_reason reason, const usage& u,
                             nlohmann::json logprobs = nullptr, std::string_view reasoning = {},
                             const std::vector<tool_call>& calls = {});
// Streamed, "object": "chat.completion.chunk", each with "choices": [{"index": 0, "delta",
// "logprobs": null, "finish_reason"}]: first the role chunk (delta {"role": "assistant",
// "content": ""}), then content chunks (delta {"content"}), then the finish chunk (delta {}).
nlohmann::json chat_role_chunk(std::string_view id, int64_t created, std::string_view model,
                               bool include_usage = false);
nlohmann::json chat_content_chunk(std::string_view id, int64_t created, std::string_view model,
                                  std::string_view content, bool include_usage = false,
                                  nlohmann::json logprobs = nullptr);
// A reasoning delta: {"reasoning_content": text}.
nlohmann::json chat_reasoning_chunk(std::string_view id, int64_t created, std::string_view model,
                                    std::string_view reasoning, bool include_usage = false,
                                    nlohmann::json logprobs = nullptr);
// The calls of a streamed answer, all in one delta: {"tool_calls": [{"index": i, "id", "type":
// "function", "function": {"name", "arguments"}}]}.
nlohmann::json chat_tool_calls_chunk(std::string_view id, int64_t created, std::string_view model,
                                     const std::vector<tool_call>& calls, bool include_usage = false);
// made_calls: the answer sent tool_calls (finish_reason as chat_response reports it).
nlohmann::json chat_finish_chunk(std::string_view id, int64_t created, std::string_view model,
                                 finish_reason reason, bool include_usage = false, bool made_calls = false);
nlohmann::json chat_usage_chunk(std::string_view id, int64_t created, std::string_view model,
                                const usage& u);

// GET /v1/models: {"object": "list", "data": [{"id", "object": "model", "created",
// "owned_by": "hearth"}]}
nlohmann::json models_response(std::string_view model_id, int64_t created);
// GET /v1/models/{id}: the model object alone, {"id", "object": "model", "created", "owned_by"}.
nlohmann::json model_object(std::string_view model_id, int64_t created);

}  // namespace hearth::proto

#pragma once
// Anthropic's Messages API: POST /v1/messages and POST /v1/messages/count_tokens, so clients built
// on Anthropic's SDK work against a local model. A request becomes the same chat a
// /v1/chat/completions request would (messages for the chat template, tools for tools.h), and the
// answer is written in Anthropic's shapes.
//
// Request fields: model (not checked: one model per daemon), max_tokens (required, >= 1; not for
// count_tokens), messages (non-empty; roles "user" and "assistant"; content a string or blocks),
// system (a string or text blocks), stop_sequences (at most 4), stream, temperature (0..1),
// top_p, top_k, tools ([{name, description, input_schema}]), tool_choice ({"type": "auto" |
// "any" | "tool" | "none", "name", "disable_parallel_tool_use"}), metadata (ignored).
// Content blocks: text; tool_use {id, name, input} (assistant); tool_result {tool_use_id,
// content: string or text blocks, is_error} (user: each becomes a `tool` message, in order, before
// the turn's text); thinking {thinking} (assistant: its reasoning_content). Images and documents
// are a 400 naming the block.
//
// Errors are {"type": "error", "error": {"type", "message"}} (anthropic_error), with the status
// of the api_error; the param is named in the message.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/api_error.h"
#include "proto/chat_message.h"
#include "proto/generation.h"
#include "proto/request_fields.h"
#include "proto/tools.h"
#include "sampler.h"

namespace hearth::proto {

struct messages_request {
  std::string model;
  std::vector<chat_message> messages;  // system first, when given
  int32_t max_tokens = 0;
  sampling_params sampling;
  bool cache = true;  // "cache": false keeps it out of the prefix cache
  context_overflow overflow = context_overflow::error;  // "context_overflow" (request_fields.h)
  std::optional<int64_t> deadline_ms;  // "deadline_ms" (request_fields.h)
  speculative_settings speculative;  // "speculative" (request_fields.h): the server's default filled in
  std::vector<std::string> stop;
  bool stream = false;
  tool_request tools;
};
result<messages_request> parse_messages(std::string_view body, const limits& lim);
// count_tokens: the same fields, max_tokens neither needed nor read.
result<messages_request> parse_count_tokens(std::string_view body, const limits& lim);

// {"type": "error", "error": {"type": "invalid_request_error", "message"}}: Anthropic's error
// types by status (400 invalid_request_error, 401 authentication_error, 403 permission_error,
// 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 503 overloaded_error, else
// api_error).
nlohmann::json anthropic_error(const api_error& e);

// Anthropic's stop_reason: "end_turn", "stop_sequence" (stop_sequence set), "max_tokens",
// "tool_use" (the answer made calls); null for cancelled, shutdown and error.
nlohmann::json anthropic_stop_reason(finish_reason r, std::string_view stop_sequence, bool made_calls);

// The whole answer: {"id", "type": "message", "role": "assistant", "model", "content": [thinking?,
// text?, tool_use...], "stop_reason", "stop_sequence", "usage"}. usage is Anthropic's:
// {"input_tokens": the prompt tokens computed, "cache_creation_input_tokens": 0,
// "cache_read_input_tokens": those read from the prefix cache, "output_tokens"}, so the prompt is
// input + cache read, as Anthropic counts it. A tool_use block's input is the call's arguments as
// JSON. With speculative decoding, usage also has hearth's "speculative": {"drafted_tokens",
// "accepted_tokens"} (here and in message_delta).
nlohmann::json messages_response(std::string_view id, std::string_view model, std::string_view reasoning,
                                 std::string_view text, const std::vector<tool_call>& calls, finish_reason reason,
                                 std::string_view stop_sequence, const usage& u);

// Streamed: the events of Anthropic's sequence, each as "event: NAME\ndata: JSON\n\n".
std::string anthropic_event(std::string_view name, const nlohmann::json& data);
// message_start, with the message's head and usage {input_tokens: the whole prompt (what the
// cache will give is not known yet), output_tokens: 0}.
nlohmann::json message_start_event(std::string_view id, std::string_view model, int32_t input_tokens);
// content_block_start for a text or thinking block (empty), or a tool_use block (input {}).
nlohmann::json block_start_event(int index, std::string_view type);
nlohmann::json tool_use_start_event(int index, const tool_call& call);
// content_block_delta: text_delta, thinking_delta, or input_json_delta (partial_json).
nlohmann::json block_delta_event(int index, std::string_view type, std::string_view text);
nlohmann::json block_stop_event(int index);
// message_delta with the stop reason and the final usage, as in messages_response (Anthropic's
// clients take its input and cache counts over message_start's).
nlohmann::json message_delta_event(const nlohmann::json& stop_reason, std::string_view stop_sequence,
                                   const usage& u);

}  // namespace hearth::proto

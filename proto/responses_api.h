#pragma once
// OpenAI's Responses API, stateless: POST /v1/responses (what the Vercel AI SDK's openai('m') and
// the openai SDK's client.responses call). A request becomes the chat a /v1/chat/completions
// request would (messages for the chat template, tools for tools.h, text.format for
// constraint.h); the answer comes back as a response object with output items, whole or as the
// typed event stream.
//
// Request fields: input (a string, or items: messages {role: user | assistant | system |
// developer, content: a string or input_text / output_text parts}, function_call {call_id,
// name, arguments}, function_call_output {call_id, output}; reasoning items are skipped),
// instructions (a system message first), max_output_tokens, temperature, top_p, stream, tools
// ([{type: "function", name, description, parameters, strict}]), tool_choice ("auto", "none",
// "required", {type: "function", name}), parallel_tool_calls, text.format ({type: "text"},
// {type: "json_object"}, {type: "json_schema", name, schema, strict}); model, metadata, user,
// truncation "disabled" and store: false are accepted and ignored. Nothing is stored, so
// previous_response_id, store: true, and background: true are 400s saying so.
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

struct responses_request {
  std::string model;
  std::vector<chat_message> messages;
  std::optional<int32_t> max_output_tokens;
  sampling_params sampling;
  bool cache = true;  // "cache": false keeps it out of the prefix cache
  context_overflow overflow = context_overflow::error;  // "context_overflow" (request_fields.h)
  std::optional<int64_t> deadline_ms;  // "deadline_ms" (request_fields.h)
  speculative_settings speculative;  // "speculative" (request_fields.h): the server's default filled in
  bool stream = false;
  tool_request tools;
  std::shared_ptr<const grammar> constraint;  // text.format
  nlohmann::json echo;  // the request's settings a response object repeats (tools, text, ...)
};
result<responses_request> parse_responses(std::string_view body, const limits& lim);

// What a finished answer holds, for the response object.
struct responses_output {
  std::string reasoning, text;
  std::vector<tool_call> calls;  // ids are the call_ids
  finish_reason reason = finish_reason::stop;
  usage tokens;
};

// The response object: {"id", "object": "response", "created_at", "status": "completed" or
// "incomplete" (with incomplete_details.reason "max_output_tokens"), "model", "output": [reasoning?,
// message?, function_call...], "usage", "error": null, ...the request's echoed settings}. With
// speculative decoding, usage.output_tokens_details has the accepted/rejected prediction tokens
// and usage.speculative hearth's counts (generation_json.h add_prediction_tokens).
// `in_progress`: the object as response.created reports it (status "in_progress", no output).
nlohmann::json response_object(std::string_view id, int64_t created, std::string_view model,
                               const nlohmann::json& echo, const responses_output* out);

// Output item ids: derived from the response id, so one response's items are distinct.
std::string message_item_id(std::string_view response_id);
std::string reasoning_item_id(std::string_view response_id);
std::string function_item_id(std::string_view response_id, size_t index);

// Output items.
nlohmann::json message_item(std::string_view item_id, std::string_view text, bool done);
nlohmann::json reasoning_item(std::string_view item_id, std::string_view text);
nlohmann::json function_call_item(std::string_view item_id, const tool_call& call);

// One streamed event: "event: TYPE\ndata: {"type": TYPE, "sequence_number": N, ...fields}\n\n".
std::string responses_event(std::string_view type, int64_t sequence_number, nlohmann::json fields);

}  // namespace hearth::proto

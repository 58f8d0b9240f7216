#pragma once
// The WebSocket API (GET /v1/ws). Client messages are JSON text frames:
//   {"type": "generate", "id": "a1", ...the fields of /v1/generate}  (streaming is implied: a
//                                                   "stream" field must be boolean if present,
//                                                   and is ignored)
//   {"type": "cancel", "id": "a1"}
// Steering a running (or queued) generation, each answered by ws_ack_event once the scheduler
// made the change (between two of its tokens: every token after the ack was made under it), or
// by ws_steer_error_event if it cannot be made (the generation goes on unchanged); a change still
// waiting when the generation ends is answered by its "done":
//   {"type": "update", "id": "a1", any of "temperature", "top_k", "top_p", "min_p" (generate's
//                       ranges), "stop" (as generate's: a string or up to 4), "max_tokens" (>= 1)}
//                       "seed" and the penalties cannot change: a message naming them is refused.
//   {"type": "append", "id": "a1", "text": str | "tokens": [ids]}  input fed after what the
//                       generation holds (text tokenized without BOS); not echoed, counted in
//                       usage.prompt_tokens; the next token is generated after it.
//   {"type": "pause", "id": "a1"}, {"type": "resume", "id": "a1"}
// `id` is the client's name for a request: a non-empty string of at most max_ws_id_bytes.
// Server messages: ws_token_event, ws_done_event, ws_error_event, ws_queued_event, ws_ack_event,
// ws_steer_error_event.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>
#include <optional>

#include <nlohmann/json.hpp>

#include "proto/api_error.h"
#include "proto/generation.h"
#include "proto/native_api.h"
#include "proto/request_fields.h"

namespace hearth::proto {

inline constexpr size_t max_ws_id_bytes = 256;

struct ws_generate {
  std::string id;
  generate_request request;  // request.stream is true
};
struct ws_cancel {
  std::string id;
};

struct ws_steer {
  std::string id;
  steer_kind op = steer_kind::update;
  generation_update update;  // update: the fields the message gave (validated)
  // append: one of them (text not empty, tokens not empty and in the vocabulary).
  std::optional<std::string> text;
  std::optional<std::vector<int32_t>> tokens;
};
// A message the server refuses. `id` is the message's id when it could be read (a valid id
// string), else "": the server answers ws_error_event(id, error).
struct ws_error {
  std::string id;
  api_error error;
};
using ws_message = std::variant<ws_generate, ws_cancel, ws_steer, ws_error>;

// Never throws.
ws_message parse_ws_message(std::string_view text, const limits& lim);

// {"type": "token", "id": str, "text": str, "token_id": n}, plus "logprob" and "top_logprobs"
// (the native entry, generation_json.h) when the generate message asked for "logprobs".
nlohmann::json ws_token_event(std::string_view id, std::string_view text, int32_t token_id,
                              const token_logprobs_entry* logprobs = nullptr);
// {"type": "done", "id": str, "text": held-back text released at the end, "finish_reason",
//  "usage", "timings"} plus "error": {"message": str} when reason is error.
nlohmann::json ws_done_event(std::string_view id, finish_reason reason, const usage& u,
                             const timings& t, std::string_view text = {},
                             std::string_view error = {});
// {"type": "error", "id": str|null ("" -> null), "error": {message, type, param, code}}
nlohmann::json ws_error_event(std::string_view id, const api_error& e);
// {"type": "ack", "id", "op": "update"|"append"|"pause"|"resume"}: the change was made.
nlohmann::json ws_ack_event(std::string_view id, steer_kind op);
// ws_error_event plus "op": the change was refused; the generation goes on unchanged.
nlohmann::json ws_steer_error_event(std::string_view id, steer_kind op, const api_error& e);
// {"type": "queued", "id", "position" (0: next), "estimated_start_ms" (null: no estimate yet)}:
// the generation waits to start.
nlohmann::json ws_queued_event(std::string_view id, int64_t position, double estimated_start_s);

}  // namespace hearth::proto

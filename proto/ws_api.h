#pragma once
// The WebSocket API (GET /v1/ws). Client messages are JSON text frames:
//   {"type": "generate", "id": "a1", ...the fields of /v1/generate}  (streaming is implied: a
//                                                   "stream" field must be boolean if present,
//                                                   and is ignored)
//   {"type": "cancel", "id": "a1"}
// `id` is the client's name for a request: a non-empty string of at most max_ws_id_bytes.
// Server messages: ws_token_event, ws_done_event, ws_error_event.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

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
// A message the server refuses. `id` is the message's id when it could be read (a valid id
// string), else "": the server answers ws_error_event(id, error).
struct ws_error {
  std::string id;
  api_error error;
};
using ws_message = std::variant<ws_generate, ws_cancel, ws_error>;

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
// {"type": "queued", "id", "position" (0: next), "estimated_start_ms" (null: no estimate yet)}:
// the generation waits to start.
nlohmann::json ws_queued_event(std::string_view id, int64_t position, double estimated_start_s);

}  // namespace hearth::proto

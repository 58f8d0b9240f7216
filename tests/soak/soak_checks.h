#pragma once
// What a well-formed answer of each API looks like, checked on every response of the soak
// (tests/soak). Each check returns "" when the answer is well-formed, else what is wrong.
// Pure functions of the bytes received: thread-safe.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace hearth::soak {

enum class api { completion, chat, generate };

struct request_shape {
  api kind = api::completion;
  bool stream = false;
  bool include_usage = false;  // OpenAI streams: stream_options.include_usage
  int max_tokens = 0;
};

// A non-streamed answer's body.
std::string check_body(const request_shape& r, std::string_view body);

// A complete SSE stream (every event of it) of a streamed answer.
std::string check_stream(const request_shape& r, std::string_view stream);

// The JSON payloads of an SSE stream's events, each already parsed; "[DONE]" stays a string.
// Sets *error on a malformed stream (a line that is not "data: ...", a payload that is not JSON).
std::vector<nlohmann::json> sse_events(std::string_view stream, std::string* error);

// One WebSocket generation: its token events and the done event (all with the same id).
// `cancelled`: the client sent a cancel, so finish_reason may also be "cancelled".
std::string check_ws_generation(const std::vector<nlohmann::json>& tokens, const nlohmann::json& done,
                                int max_tokens, bool cancelled);

}  // namespace hearth::soak

#pragma once
// Server-sent events framing for the streaming HTTP APIs.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hearth::proto {

// "data: <compact JSON>\n\n" (serialize(): never throws).
std::string sse_data(const nlohmann::json& event);
// "data: <text>\n\n"; a multi-line text becomes one "data: " line per line, as SSE requires.
std::string sse_data(std::string_view text);
// Overloads so that strings never convert to a JSON string value instead.
inline std::string sse_data(const std::string& text) { return sse_data(std::string_view(text)); }
inline std::string sse_data(const char* text) { return sse_data(std::string_view(text)); }
// The last event of an OpenAI stream.
inline constexpr std::string_view sse_done = "data: [DONE]\n\n";
// A comment saying the request waits to start (": queued position=N estimated_start_ms=M",
// position 0: next; no estimate when estimated_start_s < 0), which SSE clients skip and a
// reader of the raw stream sees.
std::string sse_queued_comment(int64_t position, double estimated_start_s);

}  // namespace hearth::proto

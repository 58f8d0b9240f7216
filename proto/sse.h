#pragma once
// Server-sent events framing for the streaming HTTP APIs.
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

}  // namespace hearth::proto

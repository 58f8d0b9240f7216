#include "proto/sse.h"

#include "proto/api_error.h"

namespace hearth::proto {

std::string sse_data(const nlohmann::json& event) { return sse_data(serialize(event)); }

// SSE ends a line at CR, LF or CRLF; each line of the text gets its own "data: " field, and
// the client joins them back with LF.
std::string sse_data(std::string_view text) {
  std::string out = "data: ";
  out.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '\r' && c != '\n') {
      out += c;
      continue;
    }
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
    out += "\ndata: ";
  }
  out += "\n\n";
  return out;
}

std::string sse_queued_comment(int64_t position, double estimated_start_s) {
  std::string s = ": queued position=" + std::to_string(position);
  if (estimated_start_s >= 0) s += " estimated_start_ms=" + std::to_string(static_cast<int64_t>(estimated_start_s * 1000.0 + 0.5));
  return s + "\n\n";
}

}  // namespace hearth::proto

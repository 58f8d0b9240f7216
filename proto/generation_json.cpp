#include "proto/generation_json.h"

#include <cmath>

namespace hearth::proto {

namespace {

nlohmann::json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json to_json(const usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", static_cast<int64_t>(u.prompt_tokens) + u.completion_tokens}};
}

nlohmann::json to_json(const timings& t) {
  return {{"queue_ms", finite_or_null(t.queue_ms)},
          {"prompt_ms", finite_or_null(t.prompt_ms)},
          {"prompt_per_second", finite_or_null(t.prompt_per_second)},
          {"predicted_ms", finite_or_null(t.predicted_ms)},
          {"predicted_per_second", finite_or_null(t.predicted_per_second)}};
}

std::optional<std::string_view> openai_finish_reason(finish_reason r) {
  switch (r) {
    case finish_reason::stop: return "stop";
    case finish_reason::length: return "length";
    case finish_reason::cancelled:
    case finish_reason::shutdown:
    case finish_reason::error: return std::nullopt;
  }
  return std::nullopt;
}

api_error shutdown_error() {
  return {503, "the server is shutting down", "server_error", "", "server_shutting_down"};
}

api_error openai_error_for(finish_reason r, std::string_view detail) {
  api_error e;
  e.type = "server_error";
  if (r == finish_reason::shutdown) {
    e = shutdown_error();
  } else if (r == finish_reason::cancelled) {
    e.status = 503;
    e.code = "cancelled";
    e.message = "generation cancelled";
  } else {
    e.status = 500;
    e.message = "generation failed";
  }
  if (!detail.empty()) e.message += ": " + std::string(detail);
  return e;
}

}  // namespace hearth::proto

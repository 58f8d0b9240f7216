#include "proto/generation_json.h"

#include <cmath>

namespace hearth::proto {

namespace {

nlohmann::json finite_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// JSON has no -inf: a token the sampler ruled out gets OpenAI's stand-in, -9999.
double logprob_value(float lp) { return std::isfinite(lp) ? static_cast<double>(lp) : -9999.0; }

nlohmann::json byte_values(const std::string& bytes) {
  nlohmann::json out = nlohmann::json::array();
  for (unsigned char c : bytes) out.push_back(c);
  return out;
}

// object[key], or null when object is not an object or has no such key.
nlohmann::json member(const nlohmann::json& object, const char* key) {
  return object.is_object() ? object.value(key, nlohmann::json()) : nlohmann::json();
}

// object[key] as a token count: 0 when absent or not an integer.
int32_t count_of(const nlohmann::json& object, const char* key) {
  const nlohmann::json v = member(object, key);
  return v.is_number_integer() ? v.get<int32_t>() : 0;
}

nlohmann::json chat_token(const logprob_token& t) {
  return {{"token", t.bytes}, {"logprob", logprob_value(t.logprob)}, {"bytes", byte_values(t.bytes)}};
}

}  // namespace

nlohmann::json chat_logprobs_json(const std::vector<token_logprobs_entry>& entries) {
  nlohmann::json content = nlohmann::json::array();
  for (const token_logprobs_entry& e : entries) {
    nlohmann::json j = chat_token(e.token);
    j["top_logprobs"] = nlohmann::json::array();
    for (const logprob_token& t : e.top) j["top_logprobs"].push_back(chat_token(t));
    content.push_back(std::move(j));
  }
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

nlohmann::json completion_logprobs_json(const std::vector<token_logprobs_entry>& entries, size_t text_offset) {
  nlohmann::json tokens = nlohmann::json::array(), values = nlohmann::json::array(),
                 tops = nlohmann::json::array(), offsets = nlohmann::json::array();
  for (const token_logprobs_entry& e : entries) {
    tokens.push_back(e.token.bytes);
    values.push_back(logprob_value(e.token.logprob));
    nlohmann::json top = nlohmann::json::object();
    for (const logprob_token& t : e.top) top[t.bytes] = logprob_value(t.logprob);
    tops.push_back(std::move(top));
    offsets.push_back(text_offset);
    text_offset += e.token.bytes.size();
  }
  return {{"tokens", std::move(tokens)},
          {"token_logprobs", std::move(values)},
          {"top_logprobs", std::move(tops)},
          {"text_offset", std::move(offsets)}};
}

nlohmann::json native_logprobs_json(const std::vector<token_logprobs_entry>& entries) {
  nlohmann::json out = nlohmann::json::array();
  for (const token_logprobs_entry& e : entries) {
    nlohmann::json top = nlohmann::json::array();
    for (const logprob_token& t : e.top) {
      top.push_back({{"id", t.id}, {"token", t.bytes}, {"logprob", logprob_value(t.logprob)}});
    }
    out.push_back({{"id", e.token.id},
                   {"token", e.token.bytes},
                   {"logprob", logprob_value(e.token.logprob)},
                   {"top_logprobs", std::move(top)}});
  }
  return out;
}

nlohmann::json to_json(const usage& u) {
  nlohmann::json j = {{"prompt_tokens", u.prompt_tokens},
                      {"completion_tokens", u.completion_tokens},
                      {"total_tokens", static_cast<int64_t>(u.prompt_tokens) + u.completion_tokens}};
  // OpenAI's field for prompt tokens read from a cache; present when some were.
  if (u.cached_tokens > 0) j["prompt_tokens_details"]["cached_tokens"] = u.cached_tokens;
  // hearth's: what context_overflow dropped; present when something was.
  if (u.truncated_tokens > 0) j["prompt_tokens_details"]["truncated_tokens"] = u.truncated_tokens;
  // Speculative decoding: OpenAI's Predicted Outputs counts, and hearth's; present when tokens
  // were drafted.
  if (u.drafted_tokens > 0) add_prediction_tokens(j["completion_tokens_details"], u);
  add_speculative_usage(j, u);
  return j;
}

usage usage_from_json(const nlohmann::json& j) {
  usage u;
  u.prompt_tokens = count_of(j, "prompt_tokens");
  u.completion_tokens = count_of(j, "completion_tokens");
  u.cached_tokens = count_of(member(j, "prompt_tokens_details"), "cached_tokens");
  u.truncated_tokens = count_of(member(j, "prompt_tokens_details"), "truncated_tokens");
  u.drafted_tokens = count_of(member(j, "speculative"), "drafted_tokens");
  u.accepted_tokens = count_of(member(j, "speculative"), "accepted_tokens");
  return u;
}

void add_prediction_tokens(nlohmann::json& details, const usage& u) {
  if (u.drafted_tokens <= 0) return;
  details["accepted_prediction_tokens"] = u.accepted_tokens;
  details["rejected_prediction_tokens"] = u.drafted_tokens - u.accepted_tokens;
}

void add_speculative_usage(nlohmann::json& usage_object, const usage& u) {
  if (u.drafted_tokens <= 0) return;
  usage_object["speculative"] = {{"drafted_tokens", u.drafted_tokens}, {"accepted_tokens", u.accepted_tokens}};
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
    case finish_reason::deadline: return "deadline";  // hearth's: the request's deadline_ms passed
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

#include "proto/native_api.h"

#include "proto/generation_json.h"
#include "proto/constraint.h"
#include "proto/json_body.h"

namespace hearth::proto {

namespace {

void read_prompt_or_tokens(field_reader& r, generate_request& req, const limits& lim) {
  req.prompt = r.string("prompt");
  if (const nlohmann::json* t = r.find("tokens"); t && !r.failed())
    req.tokens = read_token_ids(r, "tokens", *t, "tokens", lim.n_vocab);
  if (r.failed()) return;
  if (req.prompt && req.tokens)
    r.fail("prompt", "give either prompt or tokens, not both");
  else if (!req.prompt && !req.tokens)
    r.fail("prompt", "prompt (a string) or tokens (an array of token ids) is required");
  else if (req.tokens && req.tokens->empty())
    r.fail("tokens", "tokens must not be empty");
}

}  // namespace

result<generate_request> generate_from_json(const nlohmann::json& object, const limits& lim, std::string_view raw) {
  field_reader r(object);
  generate_request req;
  read_prompt_or_tokens(r, req, lim);
  req.overflow = read_context_overflow(r, lim);
  req.deadline_ms = read_deadline_ms(r);
  req.speculative = read_speculative(r, lim);
  req.max_tokens = read_max_tokens(r, "max_tokens", overflow_limits(lim, req.overflow));
  read_sampling(r, req.sampling, api_flavor::native);
  req.cache = read_cache(r);
  req.stop = read_stop(r);
  req.stream = r.boolean("stream").value_or(false);
  req.top_logprobs = read_count_logprobs(r);
  req.constraint = read_constraint(r, raw, api_flavor::native);
  if (r.failed()) return r.error();
  return req;
}

result<generate_request> parse_generate(std::string_view body, const limits& lim) {
  result<nlohmann::json> j = parse_json_object(body);
  if (const api_error* e = std::get_if<api_error>(&j)) return *e;
  return generate_from_json(std::get<nlohmann::json>(j), lim, body);
}

result<tokenize_request> parse_tokenize(std::string_view body) {
  result<nlohmann::json> j = parse_json_object(body);
  if (const api_error* e = std::get_if<api_error>(&j)) return *e;
  field_reader r(std::get<nlohmann::json>(j));
  tokenize_request req;
  const std::optional<std::string> content = r.string("content");
  if (!content && !r.failed()) r.fail("content", "content (a string) is required");
  req.add_special = r.boolean("add_special").value_or(false);
  req.parse_special = r.boolean("parse_special").value_or(false);
  if (r.failed()) return r.error();
  req.content = *content;
  return req;
}

result<detokenize_request> parse_detokenize(std::string_view body, const limits& lim) {
  result<nlohmann::json> j = parse_json_object(body);
  if (const api_error* e = std::get_if<api_error>(&j)) return *e;
  field_reader r(std::get<nlohmann::json>(j));
  detokenize_request req;
  const nlohmann::json* t = r.find("tokens");
  if (!t) r.fail("tokens", "tokens (an array of token ids) is required");
  else if (auto ids = read_token_ids(r, "tokens", *t, "tokens", lim.n_vocab)) req.tokens = *ids;
  if (r.failed()) return r.error();
  return req;
}

nlohmann::json tokenize_response(const std::vector<int32_t>& tokens) {
  return {{"tokens", tokens}};
}

nlohmann::json detokenize_response(std::string_view content) {
  return {{"content", content}};
}

nlohmann::json generate_response(std::string_view text, const std::vector<int32_t>& tokens,
                                 finish_reason reason, const usage& u, const timings& t,
                                 const std::vector<token_logprobs_entry>* logprobs) {
  nlohmann::json j = {{"text", text},
                      {"tokens", tokens},
                      {"finish_reason", to_string(reason)},
                      {"usage", to_json(u)},
                      {"timings", to_json(t)}};
  if (logprobs) j["logprobs"] = native_logprobs_json(*logprobs);
  return j;
}

nlohmann::json generate_token_event(int32_t id, std::string_view text, const token_logprobs_entry* logprobs) {
  nlohmann::json token = {{"id", id}, {"text", text}};
  if (logprobs) {
    const nlohmann::json entry = native_logprobs_json({*logprobs})[0];
    token["logprob"] = entry["logprob"];
    token["top_logprobs"] = entry["top_logprobs"];
  }
  return {{"token", std::move(token)}};
}

nlohmann::json generate_final_event(finish_reason reason, const usage& u, const timings& t,
                                    std::string_view text, std::string_view error) {
  nlohmann::json j = {{"done", true},
                      {"text", text},
                      {"finish_reason", to_string(reason)},
                      {"usage", to_json(u)},
                      {"timings", to_json(t)}};
  if (reason == finish_reason::error) j["error"] = {{"message", error}};
  if (reason == finish_reason::shutdown) j["error"] = to_json(shutdown_error())["error"];
  return j;
}

}  // namespace hearth::proto

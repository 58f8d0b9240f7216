#include "proto/ws_api.h"

#include "proto/generation_json.h"
#include "proto/json_body.h"

namespace hearth::proto {

namespace {

// The id if the message carries a usable one; otherwise records why not.
std::string read_id(field_reader& r) {
  const std::optional<std::string> id = r.string("id");
  if (r.failed()) return {};
  if (!id) {
    r.fail("id", "id (a string naming the request) is required");
    return {};
  }
  if (!r.check(!id->empty() && id->size() <= max_ws_id_bytes, "id", [] {
        return "id must be a non-empty string of at most " + std::to_string(max_ws_id_bytes) +
               " bytes";
      }))
    return {};
  return *id;
}

std::optional<steer_kind> steer_op_of(std::string_view type) {
  if (type == "update") return steer_kind::update;
  if (type == "append") return steer_kind::append;
  if (type == "pause") return steer_kind::pause;
  if (type == "resume") return steer_kind::resume;
  return std::nullopt;
}

// The fields of a steering message; the id and type are read.
ws_message read_steer(const nlohmann::json& obj, field_reader& r, std::string id, steer_kind op, const limits& lim) {
  ws_steer m{std::move(id), op};
  if (op == steer_kind::update) {
    for (const char* fixed : {"seed", "repeat_penalty", "repeat_last_n", "presence_penalty", "frequency_penalty"}) {
      if (obj.contains(fixed)) r.fail(fixed, std::string(fixed) + " cannot change while generating");
    }
    generation_update& u = m.update;
    u.temperature = r.real("temperature");
    u.top_k = r.int32("top_k");
    u.top_p = r.real("top_p");
    u.min_p = r.real("min_p");
    if (obj.contains("stop") && !obj.at("stop").is_null()) u.stop = read_stop(r);
    limits unbounded = lim;
    unbounded.n_ctx = 0;  // a rolling window may generate past the context; the scheduler checks
    u.max_tokens = read_max_tokens(r, "max_tokens", unbounded);
    if (r.failed()) return ws_error{m.id, r.error()};
    // The generate message's ranges (the defaults are valid, so only a given field can fail).
    sampling_params p;
    if (u.temperature) p.temperature = *u.temperature;
    if (u.top_k) p.top_k = *u.top_k;
    if (u.top_p) p.top_p = *u.top_p;
    if (u.min_p) p.min_p = *u.min_p;
    if (auto err = sampling_error(p)) return ws_error{m.id, std::move(*err)};
    if (!u.temperature && !u.top_k && !u.top_p && !u.min_p && !u.stop && !u.max_tokens) {
      return ws_error{m.id, bad_request("type", "update changes nothing: give temperature, top_k, top_p, min_p, stop or max_tokens")};
    }
  } else if (op == steer_kind::append) {
    m.text = r.string("text");
    if (const nlohmann::json* t = r.find("tokens"); t && !r.failed()) {
      m.tokens = read_token_ids(r, "tokens", *t, "tokens", lim.n_vocab);
    }
    if (r.failed()) return ws_error{m.id, r.error()};
    if (m.text && m.tokens) return ws_error{m.id, bad_request("text", "give either text or tokens, not both")};
    if (!m.text && !m.tokens) return ws_error{m.id, bad_request("text", "text (a string) or tokens (an array of token ids) is required")};
    if ((m.text && m.text->empty()) || (m.tokens && m.tokens->empty())) {
      return ws_error{m.id, bad_request(m.text ? "text" : "tokens", "there is nothing to append")};
    }
  }
  return m;
}

}  // namespace

ws_message parse_ws_message(std::string_view text, const limits& lim) {
  result<nlohmann::json> j = parse_json_object(text, "message");
  if (api_error* e = std::get_if<api_error>(&j)) return ws_error{"", std::move(*e)};
  const nlohmann::json& obj = std::get<nlohmann::json>(j);

  field_reader r(obj);
  std::string id = read_id(r);  // first, so later errors can carry it
  const std::optional<std::string> type = r.string("type");
  if (r.failed()) return ws_error{std::move(id), r.error()};
  if (!type) return ws_error{std::move(id), bad_request("type", "type is required")};
  if (*type == "cancel") return ws_cancel{std::move(id)};
  if (auto op = steer_op_of(*type)) return read_steer(obj, r, std::move(id), *op, lim);
  if (*type != "generate")
    return ws_error{std::move(id),
                    bad_request("type", "type must be \"generate\", \"cancel\", \"update\", \"append\", \"pause\" or \"resume\" (got " +
                                            describe(obj.at("type")) + ")")};

  result<generate_request> req = generate_from_json(obj, lim, text);
  if (api_error* e = std::get_if<api_error>(&req)) return ws_error{std::move(id), std::move(*e)};
  ws_generate g{std::move(id), std::move(std::get<generate_request>(req))};
  g.request.stream = true;
  return g;
}

nlohmann::json ws_token_event(std::string_view id, std::string_view text, int32_t token_id,
                              const token_logprobs_entry* logprobs) {
  nlohmann::json j = {{"type", "token"}, {"id", id}, {"text", text}, {"token_id", token_id}};
  if (logprobs) {
    const nlohmann::json entry = native_logprobs_json({*logprobs})[0];
    j["logprob"] = entry["logprob"];
    j["top_logprobs"] = entry["top_logprobs"];
  }
  return j;
}

nlohmann::json ws_done_event(std::string_view id, finish_reason reason, const usage& u,
                             const timings& t, std::string_view text, std::string_view error) {
  nlohmann::json j = {{"type", "done"},
                      {"id", id},
                      {"text", text},
                      {"finish_reason", to_string(reason)},
                      {"usage", to_json(u)},
                      {"timings", to_json(t)}};
  if (reason == finish_reason::error) j["error"] = {{"message", error}};
  return j;
}

nlohmann::json ws_ack_event(std::string_view id, steer_kind op) {
  return {{"type", "ack"}, {"id", id}, {"op", to_string(op)}};
}

nlohmann::json ws_steer_error_event(std::string_view id, steer_kind op, const api_error& e) {
  nlohmann::json j = ws_error_event(id, e);
  j["op"] = to_string(op);
  return j;
}

nlohmann::json ws_queued_event(std::string_view id, int64_t position, double estimated_start_s) {
  nlohmann::json j = {{"type", "queued"}, {"id", id}, {"position", position}, {"estimated_start_ms", nullptr}};
  if (estimated_start_s >= 0) j["estimated_start_ms"] = static_cast<int64_t>(estimated_start_s * 1000.0 + 0.5);
  return j;
}

nlohmann::json ws_error_event(std::string_view id, const api_error& e) {
  nlohmann::json j = to_json(e);
  j["type"] = "error";
  j["id"] = id.empty() ? nlohmann::json(nullptr) : nlohmann::json(id);
  return j;
}

}  // namespace hearth::proto

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
  if (*type != "generate")
    return ws_error{std::move(id),
                    bad_request("type", "type must be \"generate\" or \"cancel\" (got " +
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

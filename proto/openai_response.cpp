// JSON shapes of /v1/completions, /v1/chat/completions and /v1/models responses.
#include "proto/generation_json.h"
#include "proto/openai_api.h"

namespace hearth::proto {

namespace {

nlohmann::json finish_json(std::optional<finish_reason> r) {
  if (!r) return nullptr;
  const std::optional<std::string_view> s = openai_finish_reason(*r);
  return s ? nlohmann::json(*s) : nlohmann::json(nullptr);
}

nlohmann::json head(std::string_view id, std::string_view object, int64_t created,
                    std::string_view model) {
  return {{"id", id}, {"object", object}, {"created", created}, {"model", model}};
}

nlohmann::json chat_chunk(std::string_view id, int64_t created, std::string_view model,
                          nlohmann::json delta, std::optional<finish_reason> reason,
                          bool include_usage, nlohmann::json logprobs = nullptr) {
  nlohmann::json j = head(id, "chat.completion.chunk", created, model);
  j["choices"] = nlohmann::json::array({{{"index", 0},
                                         {"delta", std::move(delta)},
                                         {"logprobs", std::move(logprobs)},
                                         {"finish_reason", finish_json(reason)}}});
  if (include_usage) j["usage"] = nullptr;
  return j;
}

}  // namespace

nlohmann::json completion_response(std::string_view id, int64_t created, std::string_view model,
                                   std::string_view text, finish_reason reason, const usage& u,
                                   nlohmann::json logprobs) {
  nlohmann::json j = completion_chunk(id, created, model, text, reason, false, std::move(logprobs));
  j["usage"] = to_json(u);
  return j;
}

nlohmann::json completion_chunk(std::string_view id, int64_t created, std::string_view model,
                                std::string_view text, std::optional<finish_reason> reason,
                                bool include_usage, nlohmann::json logprobs) {
  nlohmann::json j = head(id, "text_completion", created, model);
  j["choices"] = nlohmann::json::array({{{"text", text},
                                         {"index", 0},
                                         {"logprobs", std::move(logprobs)},
                                         {"finish_reason", finish_json(reason)}}});
  if (include_usage) j["usage"] = nullptr;
  return j;
}

nlohmann::json completion_usage_chunk(std::string_view id, int64_t created,
                                      std::string_view model, const usage& u) {
  nlohmann::json j = head(id, "text_completion", created, model);
  j["choices"] = nlohmann::json::array();
  j["usage"] = to_json(u);
  return j;
}

nlohmann::json chat_response(std::string_view id, int64_t created, std::string_view model,
                             std::string_view content, finish_reason reason, const usage& u,
                             nlohmann::json logprobs, std::string_view reasoning) {
  nlohmann::json j = head(id, "chat.completion", created, model);
  nlohmann::json message = {{"role", "assistant"}, {"content", content}};
  if (!reasoning.empty()) message["reasoning_content"] = reasoning;
  j["choices"] =
      nlohmann::json::array({{{"index", 0},
                              {"message", std::move(message)},
                              {"logprobs", std::move(logprobs)},
                              {"finish_reason", finish_json(reason)}}});
  j["usage"] = to_json(u);
  return j;
}

nlohmann::json chat_role_chunk(std::string_view id, int64_t created, std::string_view model,
                               bool include_usage) {
  return chat_chunk(id, created, model, {{"role", "assistant"}, {"content", ""}}, std::nullopt,
                    include_usage);
}

nlohmann::json chat_content_chunk(std::string_view id, int64_t created, std::string_view model,
                                  std::string_view content, bool include_usage, nlohmann::json logprobs) {
  return chat_chunk(id, created, model, {{"content", content}}, std::nullopt, include_usage, std::move(logprobs));
}

nlohmann::json chat_reasoning_chunk(std::string_view id, int64_t created, std::string_view model,
                                    std::string_view reasoning, bool include_usage, nlohmann::json logprobs) {
  return chat_chunk(id, created, model, {{"reasoning_content", reasoning}}, std::nullopt, include_usage,
                    std::move(logprobs));
}

nlohmann::json chat_finish_chunk(std::string_view id, int64_t created, std::string_view model,
                                 finish_reason reason, bool include_usage) {
  return chat_chunk(id, created, model, nlohmann::json::object(), reason, include_usage);
}

nlohmann::json chat_usage_chunk(std::string_view id, int64_t created, std::string_view model,
                                const usage& u) {
  nlohmann::json j = head(id, "chat.completion.chunk", created, model);
  j["choices"] = nlohmann::json::array();
  j["usage"] = to_json(u);
  return j;
}

nlohmann::json model_object(std::string_view model_id, int64_t created) {
  return {{"id", model_id}, {"object", "model"}, {"created", created}, {"owned_by", "hearth"}};
}

nlohmann::json models_response(std::string_view model_id, int64_t created) {
  return {{"object", "list"}, {"data", nlohmann::json::array({model_object(model_id, created)})}};
}

}  // namespace hearth::proto

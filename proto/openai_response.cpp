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

// finish_reason of a chat answer that made calls: "tool_calls" where it ended on its own or at
// the length limit (OpenAI's choice), else as without.
nlohmann::json chat_finish_json(std::optional<finish_reason> r, bool made_calls) {
  if (made_calls && r && (*r == finish_reason::stop || *r == finish_reason::length)) return "tool_calls";
  return finish_json(r);
}

nlohmann::json tool_call_json(const tool_call& c) {
  return {{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}};
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
                             nlohmann::json logprobs, std::string_view reasoning,
                             const std::vector<tool_call>& calls) {
  nlohmann::json j = head(id, "chat.completion", created, model);
  nlohmann::json message = {{"role", "assistant"}, {"content", content}};
  if (content.empty() && !calls.empty()) message["content"] = nullptr;
  if (!reasoning.empty()) message["reasoning_content"] = reasoning;
  if (!calls.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const tool_call& c : calls) list.push_back(tool_call_json(c));
    message["tool_calls"] = std::move(list);
  }
  j["choices"] =
      nlohmann::json::array({{{"index", 0},
                              {"message", std::move(message)},
                              {"logprobs", std::move(logprobs)},
                              {"finish_reason", chat_finish_json(reason, !calls.empty())}}});
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

nlohmann::json chat_tool_calls_chunk(std::string_view id, int64_t created, std::string_view model,
                                     const std::vector<tool_call>& calls, bool include_usage) {
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    nlohmann::json c = tool_call_json(calls[i]);
    c["index"] = i;
    list.push_back(std::move(c));
  }
  return chat_chunk(id, created, model, {{"tool_calls", std::move(list)}}, std::nullopt, include_usage);
}

nlohmann::json chat_finish_chunk(std::string_view id, int64_t created, std::string_view model,
                                 finish_reason reason, bool include_usage, bool made_calls) {
  nlohmann::json j = chat_chunk(id, created, model, nlohmann::json::object(), reason, include_usage);
  j["choices"][0]["finish_reason"] = chat_finish_json(reason, made_calls);
  return j;
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

// The prompt /v1/chat/completions builds, against an independent reference: what Python's
// Jinja2 renders from the ChatML template for ../shared/templates' conversations. The bundled
// stories260K model has no chat template, so hearth renders ChatML ("chatml-default"); the
// request's prompt must then be that render, tokenized with special tokens parsed, after BOS.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "chat_cases.h"
#include "server_process.h"

using namespace hearth::test;
using json = nlohmann::json;

namespace {

server_process& shared_server() {
  static server_process server({"--parallel", "2"});
  return server;
}

// POST /v1/tokenize of the render, BOS added as the vocabulary asks, control-token texts parsed:
// the ids the reference render stands for. (Not the code path under test: chat requests render
// and tokenize in proto::chat_template.)
std::vector<int> reference_ids(server_process& s, const std::string& render) {
  auto r = curl_json(s.url("/v1/tokenize"),
                     json{{"content", render}, {"add_special", true}, {"parse_special", true}}.dump());
  REQUIRE(r.status == 200);
  return json::parse(r.body)["tokens"].get<std::vector<int>>();
}

}  // namespace

TEST_CASE("chat completions: the prompt is the ChatML render Jinja2 makes of the conversation", "[http][chat]") {
  auto& s = shared_server();
  int checked = 0;
  for (const chat_case& c : chatml_cases()) {
    // The API always asks for the assistant's turn; a case without the generation prompt is
    // a different prompt (the proto tests check its render).
    if (!c.add_generation_prompt) continue;
    INFO("case " << c.name);
    const std::vector<int> ids = reference_ids(s, *c.render);
    // The conversation as a client sends it (tool_calls, tool_call_id, name and
    // reasoning_content included; ChatML's template ignores them). Greedy, so the answer
    // depends on the prompt's ids alone.
    const json req = {{"messages", c.messages}, {"max_tokens", 16}, {"temperature", 0}};
    auto r = curl_json(s.url("/v1/chat/completions"), req.dump());
    REQUIRE(r.status == 200);
    const json j = json::parse(r.body);
    CHECK(j["usage"]["prompt_tokens"] == ids.size());
    // The same ids given to /v1/generate as tokens continue the same way: the chat prompt was
    // those ids, not only as many.
    auto g = curl_json(s.url("/v1/generate"), json{{"tokens", ids}, {"max_tokens", 16}, {"temperature", 0}}.dump());
    REQUIRE(g.status == 200);
    CHECK(j["choices"][0]["message"]["content"] == json::parse(g.body)["text"]);
    ++checked;
  }
  // Six conversations, one without the generation prompt (../shared/templates/cases.json).
  CHECK(checked == 5);
}

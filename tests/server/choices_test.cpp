// OpenAI's n through the daemon: several choices of one request, whole and streamed, on both
// OpenAI endpoints. Choice i gives exactly what a lone request with seed + i gives (the choices
// share the prompt's KV blocks, computed once); usage counts the prompt once and every choice's
// tokens; n beyond the server's cap is a 400 naming n.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server_process.h"

using hearth::test::curl_json;
using hearth::test::http_result;
using hearth::test::server_process;
using hearth::test::sse_payloads;
using json = nlohmann::json;

namespace {

server_process& choices_server() {
  static server_process server;  // stories260K
  return server;
}

json choices_ok(const std::string& path, const json& body) {
  const http_result r = curl_json(choices_server().url(path), body.dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
  return json::parse(r.body);
}

}  // namespace

TEST_CASE("choices: n completions, each what seed + i gives alone", "[choices]") {
  const json base = {{"prompt", "Once upon a time"}, {"max_tokens", 24}, {"temperature", 1.0}, {"top_k", 0}};
  json many = base;
  many["n"] = 3;
  many["seed"] = 11;
  const json got = choices_ok("/v1/completions", many);
  REQUIRE(got["choices"].size() == 3);
  int64_t completion = 0;
  for (int i = 0; i < 3; ++i) {
    INFO("choice " << i);
    json one = base;
    one["seed"] = 11 + i;
    const json alone = choices_ok("/v1/completions", one);
    CHECK(got["choices"][i]["index"] == i);
    CHECK(got["choices"][i]["text"] == alone["choices"][0]["text"]);
    CHECK(got["choices"][i]["finish_reason"] == alone["choices"][0]["finish_reason"]);
    CHECK(alone["usage"]["prompt_tokens"] == got["usage"]["prompt_tokens"]);
    completion += alone["usage"]["completion_tokens"].get<int64_t>();
  }
  CHECK(got["choices"][0]["text"] != got["choices"][1]["text"]);
  CHECK(got["usage"]["completion_tokens"] == completion);
  CHECK(got["usage"]["total_tokens"] == got["usage"]["prompt_tokens"].get<int64_t>() + completion);
}

TEST_CASE("choices: a streamed chat with n numbers every chunk and ends once", "[choices]") {
  const json msgs = json::array({{{"role", "user"}, {"content", "Tell me a story"}}});
  json many = {{"messages", msgs}, {"max_tokens", 16}, {"n", 2}, {"seed", 5}, {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  const http_result r = curl_json(choices_server().url("/v1/chat/completions"), many.dump());
  REQUIRE(r.status == 200);
  std::map<int, std::string> text;
  std::map<int, int> finishes;
  int usage_chunks = 0, done = 0;
  json usage;
  for (const std::string& p : sse_payloads(r.body)) {
    if (p == "[DONE]") {
      ++done;
      continue;
    }
    CHECK(done == 0);  // nothing after [DONE]
    const json c = json::parse(p);
    if (c["choices"].empty()) {
      ++usage_chunks;
      usage = c["usage"];
      continue;
    }
    const int i = c["choices"][0]["index"];
    REQUIRE((i == 0 || i == 1));
    text[i] += c["choices"][0]["delta"].value("content", "");
    if (!c["choices"][0]["finish_reason"].is_null()) ++finishes[i];
  }
  CHECK(done == 1);
  CHECK(usage_chunks == 1);
  CHECK(finishes[0] == 1);
  CHECK(finishes[1] == 1);
  int64_t completion = 0;
  for (int i = 0; i < 2; ++i) {
    const json alone = choices_ok("/v1/chat/completions", {{"messages", msgs}, {"max_tokens", 16}, {"seed", 5 + i}});
    CHECK(text[i] == alone["choices"][0]["message"]["content"]);
    completion += alone["usage"]["completion_tokens"].get<int64_t>();
  }
  CHECK(usage["completion_tokens"] == completion);
}

TEST_CASE("choices: n beyond the cap is a 400 naming n", "[choices]") {
  const http_result r = curl_json(choices_server().url("/v1/completions"), R"({"prompt": "x", "n": 9})");
  CHECK(r.status == 400);
  const json e = json::parse(r.body)["error"];
  CHECK(e["param"] == "n");
  CHECK(e["message"] == "n must be between 1 and 8 (got 9); the server's --max-choices and --parallel bound it");
  server_process capped({"--max-choices", "2"});
  const http_result c = curl_json(capped.url("/v1/chat/completions"),
                                  R"({"messages": [{"role": "user", "content": "x"}], "n": 3})");
  CHECK(c.status == 400);
  CHECK(json::parse(c.body)["error"]["param"] == "n");
  const http_result ok = curl_json(capped.url("/v1/chat/completions"),
                                   R"({"messages": [{"role": "user", "content": "x"}], "n": 2, "max_tokens": 4})");
  REQUIRE(ok.status == 200);
  CHECK(json::parse(ok.body)["choices"].size() == 2);
}

// Speculative decoding through the daemon's front end: the request field's 400s on every API
// and the WebSocket (mode draft needs --draft-model), and `serve --speculative draft` without a
// draft model refusing to start. (What the scheduler does with the settings is its own tests'.)
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "process.h"
#include "reference.h"
#include "server_process.h"
#include "ws_client.h"

using hearth::test::curl_json;
using hearth::test::hearth_bin;
using hearth::test::process_result;
using hearth::test::run_process;
using hearth::test::http_result;
using hearth::test::server_process;
using hearth::test::ws_client;
using json = nlohmann::json;

namespace {

const std::string spec_draft_message =
    R"(speculative mode "draft" needs a draft model: the server was started without --draft-model)";

// The OpenAI-shaped 400 naming `param`, with exactly `message`.
void spec_check_400(const http_result& r, const std::string& param, const std::string& message) {
  INFO("status " << r.status << " body " << r.body);
  CHECK(r.status == 400);
  const json j = json::parse(r.body, nullptr, false);
  CHECK(j == json{{"error", {{"message", message}, {"type", "invalid_request_error"}, {"param", param}, {"code", nullptr}}}});
}

}  // namespace

TEST_CASE("speculative: bad settings and mode draft without --draft-model are 400s on every API", "[http][speculative]") {
  server_process s;  // stories260K, speculative decoding off by default, no draft model
  const json chat = {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 2}};
  json body = chat;
  body["speculative"] = "draft";
  spec_check_400(curl_json(s.url("/v1/chat/completions"), body.dump()), "speculative", spec_draft_message);
  spec_check_400(curl_json(s.url("/v1/completions"),
                           json{{"prompt", "x"}, {"speculative", {{"mode", "draft"}, {"max_tokens", 4}}}}.dump()),
                 "speculative", spec_draft_message);
  spec_check_400(curl_json(s.url("/v1/generate"), json{{"prompt", "x"}, {"speculative", {{"max_tokens", 17}}}}.dump()),
                 "speculative.max_tokens", "speculative.max_tokens must be an integer from 1 to 16 (got 17)");
  spec_check_400(curl_json(s.url("/v1/responses"), json{{"input", "x"}, {"speculative", {{"mode", "fast"}}}}.dump()),
                 "speculative.mode", R"(speculative.mode must be "off", "ngram" or "draft" (got "fast"))");
  // Anthropic's error shape.
  body["max_tokens"] = 2;
  const http_result m = curl_json(s.url("/v1/messages"), body.dump());
  CHECK(m.status == 400);
  CHECK(json::parse(m.body) ==
        json{{"type", "error"}, {"error", {{"type", "invalid_request_error"}, {"message", spec_draft_message}}}});
  // The WebSocket's generate: an error message carrying the id.
  ws_client c(s.port());
  c.send({{"type", "generate"}, {"id", "g1"}, {"prompt", "x"}, {"speculative", "draft"}});
  const json e = c.recv();
  CHECK(e["type"] == "error");
  CHECK(e["id"] == "g1");
  CHECK(e["error"]["param"] == "speculative");
  CHECK(e["error"]["message"] == spec_draft_message);

  // Off is served as before, and its usage has no speculative counts (nothing was drafted).
  body = chat;
  body["speculative"] = "off";
  const http_result ok = curl_json(s.url("/v1/chat/completions"), body.dump());
  REQUIRE(ok.status == 200);
  const json usage = json::parse(ok.body)["usage"];
  CHECK(usage["completion_tokens"] == 2);
  CHECK_FALSE(usage.contains("speculative"));
  CHECK_FALSE(usage.contains("completion_tokens_details"));
}

TEST_CASE("speculative: ngram drafts reach the scheduler from the request or the server's default, and usage counts them",
          "[http][speculative]") {
  // A prompt that repeats itself: prompt lookup finds drafts at once.
  const std::string prompt = "the dog ran in the park. the dog ran in the park. the dog ran in the park.";
  const json base = {{"prompt", prompt}, {"max_tokens", 40}, {"temperature", 0}};
  const auto usage_of = [](const http_result& r) {
    INFO(r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body)["usage"];
  };
  const auto drafted_of = [](const json& usage) -> int64_t {
    INFO(usage.dump());
    REQUIRE(usage.contains("speculative"));
    const int64_t drafted = usage["speculative"]["drafted_tokens"], accepted = usage["speculative"]["accepted_tokens"];
    CHECK(drafted > 0);
    CHECK(accepted >= 0);
    CHECK(accepted <= drafted);
    CHECK(usage["completion_tokens_details"] ==
          json{{"accepted_prediction_tokens", accepted}, {"rejected_prediction_tokens", drafted - accepted}});
    return drafted;
  };
  {
    server_process s;  // off by default
    json off = base, ngram = base;
    ngram["speculative"] = {{"mode", "ngram"}, {"max_tokens", 4}};
    const http_result plain = curl_json(s.url("/v1/completions"), off.dump());
    const http_result drafted = curl_json(s.url("/v1/completions"), ngram.dump());
    CHECK_FALSE(usage_of(plain).contains("speculative"));
    const int64_t one = drafted_of(usage_of(drafted));
    // Drafts are verified: the text is what decoding without them gives.
    CHECK(json::parse(drafted.body)["choices"][0]["text"] == json::parse(plain.body)["choices"][0]["text"]);
    // n choices: usage adds up every choice's drafts (not always exactly twice the lone request's:
    // the choices' drafts need not match its step for step).
    ngram["n"] = 2;
    CHECK(drafted_of(usage_of(curl_json(s.url("/v1/completions"), ngram.dump()))) > one);
  }
  {
    server_process s({"--speculative", "ngram", "--draft-max", "4"});
    drafted_of(usage_of(curl_json(s.url("/v1/completions"), base.dump())));
    json off = base;
    off["speculative"] = "off";
    CHECK_FALSE(usage_of(curl_json(s.url("/v1/completions"), off.dump())).contains("speculative"));
    // The WebSocket's generate, by the same default; its done message carries the same usage.
    ws_client c(s.port());
    c.send({{"type", "generate"}, {"id", "w"}, {"prompt", prompt}, {"max_tokens", 40}, {"temperature", 0}});
    json done;
    do done = c.recv(); while (done["type"] == "token" || done["type"] == "queued");
    REQUIRE(done["type"] == "done");
    drafted_of(done["usage"]);
  }
}

TEST_CASE("speculative: serve --speculative draft without --draft-model does not start", "[http][speculative]") {
  // Refused before it loads or listens (timeout: should it start anyway, the test still ends).
  const process_result r = run_process({"timeout", "60", hearth_bin, "serve", "--port", "0", "--speculative", "draft"});
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("hearth serve: speculative mode draft needs a draft model: give --draft-model FILE") != std::string::npos);
}

TEST_CASE("speculative: a --draft-model drafts for mode draft, and the text is the model's own", "[http][speculative]") {
  const std::string draft = hearth::test::shared_path("models/stories260K-q4_0.gguf");
  server_process s({"--draft-model", draft});
  const auto text_and_usage = [&](json body) {
    const http_result r = curl_json(s.url("/v1/completions"), body.dump());
    INFO(r.body);
    REQUIRE(r.status == 200);
    const json j = json::parse(r.body);
    return std::pair<std::string, json>(j["choices"][0]["text"], j["usage"]);
  };
  for (const json& sampling : {json{{"temperature", 0}}, json{{"temperature", 0.9}, {"seed", 11}}}) {
    json base = {{"prompt", "Once upon a time"}, {"max_tokens", 120}};
    base.update(sampling);
    json with = base;
    with["speculative"] = {{"mode", "draft"}, {"max_tokens", 6}};
    INFO(with.dump());
    const auto [plain_text, plain_usage] = text_and_usage(base);
    const auto [text, usage] = text_and_usage(with);
    CHECK(text == plain_text);
    CHECK_FALSE(plain_usage.contains("speculative"));
    REQUIRE(usage.contains("speculative"));
    // The Q4_0 draft of the same model agrees with it most of the time.
    CHECK(usage["speculative"]["drafted_tokens"] > 0);
    CHECK(usage["speculative"]["accepted_tokens"] > 0);
  }
}

TEST_CASE("speculative: a draft model with another vocabulary does not start", "[http][speculative]") {
  const process_result r = run_process({"timeout", "60", hearth_bin, "serve", "--port", "0", "-m",
                                        hearth::test::shared_path("models/stories260K-f32.gguf"), "--draft-model",
                                        hearth::test::shared_path("models/arch/tiny-llama3-f16.gguf")});
  INFO(r.err);
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("tiny-llama3-f16.gguf: cannot be the draft model of") != std::string::npos);
  CHECK(r.err.find("its vocabulary has 128256 tokens, the model's 512") != std::string::npos);
}

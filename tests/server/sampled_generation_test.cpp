// Seeded sampled generations (temperature > 0) through the daemon's HTTP endpoints: the same
// request and seed give the tokens the engine and its sampler give in-process, on every
// endpoint, streamed or not; and with top_k = 1 sampling is greedy, so it gives llama.cpp's
// greedy tokens whatever the temperature and seed.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "reference.h"
#include "sampled_run.h"
#include "server_process.h"

using namespace hearth;
using namespace hearth::test;
using json = nlohmann::json;

namespace {

server_process& shared_server() {
  static server_process server({"--parallel", "4"});
  return server;
}

const sampling_params sampled = seeded_sampling();

json request_body(const std::string& prompt, const sampling_params& p, int max_tokens, bool stream) {
  json j = sampling_fields(p);
  j["prompt"] = prompt;
  j["max_tokens"] = max_tokens;
  j["stream"] = stream;
  return j;
}

const std::unique_ptr<model>& stories() {
  static const auto m = model::load(shared_path("models/stories260K-f32.gguf"));
  return m;
}

}  // namespace

TEST_CASE("sampled: a seeded request gives the in-process engine's tokens on every HTTP endpoint",
          "[http][sampled]") {
  auto& s = shared_server();
  const auto refs = read_reference("stories260K-f32.greedy.jsonl", 6);
  const int max_tokens = 48;
  for (const auto& ref : {refs[0], refs[3]}) {
    INFO("prompt: " << ref.prompt);
    const sampled_run expect = sample_in_process(*stories(), ref.prompt_tokens, sampled, max_tokens);
    REQUIRE(expect.tokens.size() >= 8);  // enough draws to tell seeds apart
    const std::string finish = expect.ended_by_eog ? "stop" : "length";
    const size_t completion_tokens = expect.tokens.size() + (expect.ended_by_eog ? 1 : 0);

    // /v1/generate, whole: token ids.
    auto g = curl_json(s.url("/v1/generate"), request_body(ref.prompt, sampled, max_tokens, false).dump());
    REQUIRE(g.status == 200);
    const json gj = json::parse(g.body);
    CHECK(gj["tokens"].get<std::vector<token_id>>() == expect.tokens);
    CHECK(gj["finish_reason"] == finish);
    CHECK(gj["usage"]["completion_tokens"] == completion_tokens);
    const std::string text = gj["text"];

    // /v1/generate, streamed: one event per token.
    auto gs = curl_json(s.url("/v1/generate"), request_body(ref.prompt, sampled, max_tokens, true).dump(), {"-N"});
    REQUIRE(gs.status == 200);
    std::vector<token_id> streamed;
    for (const std::string& e : sse_payloads(gs.body)) {
      const json j = json::parse(e);
      if (j.contains("token")) streamed.push_back(j["token"]["id"]);
    }
    CHECK(streamed == expect.tokens);

    // /v1/completions, whole and streamed: the same text as /v1/generate's.
    auto c = curl_json(s.url("/v1/completions"), request_body(ref.prompt, sampled, max_tokens, false).dump());
    REQUIRE(c.status == 200);
    const json cj = json::parse(c.body);
    CHECK(cj["choices"][0]["text"] == text);
    CHECK(cj["choices"][0]["finish_reason"] == finish);
    CHECK(cj["usage"]["completion_tokens"] == completion_tokens);
    auto cs = curl_json(s.url("/v1/completions"), request_body(ref.prompt, sampled, max_tokens, true).dump(), {"-N"});
    REQUIRE(cs.status == 200);
    std::string ctext;
    for (const std::string& e : sse_payloads(cs.body)) {
      if (e == "[DONE]") continue;
      const json j = json::parse(e);
      if (!j["choices"].empty()) ctext += j["choices"][0]["text"].get<std::string>();
    }
    CHECK(ctext == text);
  }
}

TEST_CASE("sampled: another seed gives other tokens", "[http][sampled]") {
  // Guards the test above: were the seed ignored (or every draw the argmax), equal tokens would
  // prove nothing.
  sampling_params other = sampled;
  other.seed = sampled.seed + 1;
  const auto ref = read_reference("stories260K-f32.greedy.jsonl", 6).at(0);
  const auto a = sample_in_process(*stories(), ref.prompt_tokens, sampled, 48);
  const auto b = sample_in_process(*stories(), ref.prompt_tokens, other, 48);
  CHECK(a.tokens != b.tokens);
  CHECK(a.tokens != std::vector<token_id>(ref.greedy_tokens.begin(), ref.greedy_tokens.begin() + 48));
}

TEST_CASE("sampled: with top_k 1 any temperature and seed give llama.cpp's greedy tokens", "[http][sampled]") {
  auto& s = shared_server();
  const auto refs = read_reference("stories260K-f32.greedy.jsonl", 6);
  sampling_params p = sampled;
  p.top_k = 1;
  p.repeat_penalty = 1.0f;  // llama.cpp's greedy reference has no penalty
  int checked = 0;
  for (const auto& ref : refs) {
    INFO("prompt: " << ref.prompt);
    p.temperature = 0.5f + 0.25f * static_cast<float>(checked);
    p.seed = 1000 + static_cast<uint64_t>(checked);
    const int n = static_cast<int>(ref.greedy_tokens.size());
    auto g = curl_json(s.url("/v1/generate"), request_body(ref.prompt, p, n, false).dump());
    REQUIRE(g.status == 200);
    CHECK(json::parse(g.body)["tokens"].get<std::vector<token_id>>() == ref.greedy_tokens);
    auto c = curl_json(s.url("/v1/completions"), request_body(ref.prompt, p, n, false).dump());
    REQUIRE(c.status == 200);
    CHECK(json::parse(c.body)["choices"][0]["text"] == ref.greedy_text);
    ++checked;
  }
  CHECK(checked == 6);
}

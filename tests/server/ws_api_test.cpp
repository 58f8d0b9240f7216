// GET /v1/ws over a real WebSocket (Boost.Beast's client): generations multiplexed by id,
// cancel, errors, and a client that leaves.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "metric_reader.h"
#include "reference.h"
#include "sampled_run.h"
#include "server_process.h"
#include "ws_client.h"

using namespace hearth::test;
using json = nlohmann::json;

namespace {


}  // namespace

TEST_CASE("ws: two generations on one socket, each equal to llama.cpp's", "[ws]") {
  server_process s;
  auto refs = read_reference("stories260K-f32.greedy.jsonl");
  ws_client c(s.port());
  c.send({{"type", "generate"}, {"id", "a1"}, {"prompt", refs[0].prompt}, {"max_tokens", 64}, {"temperature", 0}});
  c.send({{"type", "generate"}, {"id", "b2"}, {"prompt", refs[1].prompt}, {"max_tokens", 64}, {"temperature", 0}});
  std::map<std::string, std::string> text;
  std::map<std::string, std::vector<int>> ids;
  std::map<std::string, json> done;
  while (done.size() < 2) {
    json m = c.recv();
    const std::string id = m["id"];
    if (m["type"] == "token") {
      text[id] += m["text"].get<std::string>();
      ids[id].push_back(m["token_id"]);
    } else {
      REQUIRE(m["type"] == "done");
      done[id] = m;
    }
  }
  CHECK(text["a1"] + done["a1"]["text"].get<std::string>() == refs[0].greedy_text);
  CHECK(text["b2"] + done["b2"]["text"].get<std::string>() == refs[1].greedy_text);
  CHECK(ids["a1"] == refs[0].greedy_tokens);
  CHECK(done["a1"]["finish_reason"] == "length");
  CHECK(done["a1"]["usage"]["completion_tokens"] == 64);
  CHECK(done["b2"]["timings"]["predicted_per_second"].is_number());
}

TEST_CASE("ws: cancel stops a generation within a step and frees it", "[ws]") {
  server_process s({"-m", slow_model});
  ws_client c(s.port());
  c.send({{"type", "generate"}, {"id", "long"}, {"prompt", "Hello"}, {"max_tokens", 1000}});
  REQUIRE(c.recv()["type"] == "token");
  c.send({{"type", "cancel"}, {"id", "long"}});
  json m;
  int after_cancel = 0;
  do {
    m = c.recv();
    after_cancel += m["type"] == "token";
  } while (m["type"] == "token");
  CHECK(m["type"] == "done");
  CHECK(m["finish_reason"] == "cancelled");
  CHECK(after_cancel <= 2);  // tokens already on their way when the cancel arrived
  CHECK(metric(s, "hearth_kv_blocks_used") == 0);
  CHECK(metric(s, "hearth_running_sequences") == 0);
}

TEST_CASE("ws: done after a cancel counts exactly the tokens that were sent", "[ws]") {
  // A cancel usually arrives while a forward pass runs (the pass is most of a step): the token
  // that pass produces must be neither sent nor counted.
  server_process s({"-m", slow_model});
  ws_client c(s.port());
  for (int round = 0; round < 5; ++round) {
    const std::string id = "r" + std::to_string(round);
    c.send({{"type", "generate"}, {"id", id}, {"prompt", "Hello"}, {"max_tokens", 1000}});
    int sent = 0;
    json m = c.recv();
    for (; m["type"] == "token"; m = c.recv()) {
      if (++sent == 2 + round) c.send({{"type", "cancel"}, {"id", id}});
    }
    INFO("round " << round << ": " << m.dump());
    REQUIRE(m["type"] == "done");
    CHECK(m["finish_reason"] == "cancelled");
    CHECK(m["usage"]["completion_tokens"] == sent);
  }
}

TEST_CASE("ws: bad messages get error messages naming the problem", "[ws]") {
  server_process s;
  ws_client c(s.port());
  c.send_raw("{not json");
  json e = c.recv();
  CHECK(e["type"] == "error");
  CHECK(e["id"].is_null());
  CHECK(e["error"]["message"].get<std::string>().find("JSON") != std::string::npos);
  c.send({{"type", "generate"}, {"id", "t1"}, {"prompt", "x"}, {"temperature", -1}});
  e = c.recv();
  CHECK(e["type"] == "error");
  CHECK(e["id"] == "t1");
  CHECK(e["error"]["param"] == "temperature");
  c.send({{"type", "cancel"}, {"id", "nobody"}});
  e = c.recv();
  CHECK(e["type"] == "error");
  CHECK(e["id"] == "nobody");
  c.send({{"type", "dance"}, {"id", "d"}});
  e = c.recv();
  CHECK(e["type"] == "error");
  // The socket still works after errors.
  c.send({{"type", "generate"}, {"id", "ok"}, {"prompt", "Once upon a time"}, {"max_tokens", 3}});
  json m;
  do m = c.recv(); while (m["type"] == "token");
  CHECK(m["type"] == "done");
  CHECK(m["id"] == "ok");
}

TEST_CASE("ws: a client that leaves frees its generations", "[ws]") {
  server_process s({"-m", slow_model, "--parallel", "2"});
  {
    ws_client c(s.port());
    c.send({{"type", "generate"}, {"id", "x"}, {"prompt", "Hello"}, {"max_tokens", 1000}});
    c.send({{"type", "generate"}, {"id", "y"}, {"prompt", "World"}, {"max_tokens", 1000}});
    REQUIRE(c.recv()["type"] == "token");
    c.drop();
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (metric(s, "hearth_running_sequences") != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(metric(s, "hearth_running_sequences") == 0);
  CHECK(metric(s, "hearth_kv_blocks_used") == 0);
  CHECK(metric(s, "hearth_generations_total{reason=\"cancelled\"}") == 2);
}

TEST_CASE("ws: a foreign origin cannot open the socket", "[ws]") {
  server_process s;
  CHECK_THROWS(ws_client(s.port(), "http://evil.example"));
  CHECK_NOTHROW(ws_client(s.port(), "http://127.0.0.1:" + std::to_string(s.port())));
}

TEST_CASE("ws: with API keys, a page authenticates with its key as the subprotocol", "[ws]") {
  server_process s({"--api-key", "sesame"});
  CHECK_THROWS(ws_client(s.port()));
  CHECK_THROWS(ws_client(s.port(), "", "hearth.bearer.wrong"));
  ws_client c(s.port(), "", "hearth.bearer.sesame");
  CHECK(c.accepted_protocol == "hearth.bearer.sesame");  // browsers require the echo
  c.send({{"type", "generate"}, {"id", "k"}, {"prompt", "Once upon a time"}, {"max_tokens", 2}});
  json m;
  do m = c.recv(); while (m["type"] == "token");
  CHECK(m["type"] == "done");
}

TEST_CASE("ws: a seeded sampled generation gives the in-process engine's tokens", "[ws][sampled]") {
  server_process s;
  const auto ref = read_reference("stories260K-f32.greedy.jsonl", 6).at(1);
  const auto m = hearth::model::load(shared_path("models/stories260K-f32.gguf"));
  const hearth::sampling_params p = seeded_sampling();
  const sampled_run expect = sample_in_process(*m, ref.prompt_tokens, p, 48);
  REQUIRE(expect.tokens.size() >= 8);
  ws_client c(s.port());
  json req = sampling_fields(p);
  req.update({{"type", "generate"}, {"id", "s1"}, {"prompt", ref.prompt}, {"max_tokens", 48}});
  c.send(req);
  std::vector<int> ids;
  json msg = c.recv();
  for (; msg["type"] == "token"; msg = c.recv()) ids.push_back(msg["token_id"]);
  REQUIRE(msg["type"] == "done");
  CHECK(ids == expect.tokens);
  CHECK(msg["finish_reason"] == (expect.ended_by_eog ? "stop" : "length"));
  CHECK(msg["usage"]["completion_tokens"] == expect.tokens.size() + (expect.ended_by_eog ? 1 : 0));
}

TEST_CASE("ws: a generation that waits hears its place before its first token", "[ws][deadline]") {
  server_process s({"--parallel", "1"});
  ws_client c(s.port());
  c.send({{"type", "generate"}, {"id", "long"}, {"prompt", "Once upon a time"}, {"max_tokens", 400}, {"temperature", 0}});
  c.send({{"type", "generate"}, {"id", "next"}, {"prompt", "The cat"}, {"max_tokens", 4}, {"temperature", 0}});
  std::vector<json> next;  // every message about "next", queue events included
  int done = 0;
  while (done < 2) {
    json m = c.recv_any();
    if (m["id"] == "next") next.push_back(m);
    done += m["type"] == "done";
  }
  REQUIRE(next.size() >= 2);
  CHECK(next.front()["type"] == "queued");
  CHECK(next.front()["position"] == 0);
  CHECK(next.front().contains("estimated_start_ms"));  // null until a step was measured
  CHECK(next.back()["type"] == "done");
  const auto first_token = std::find_if(next.begin(), next.end(), [](const json& m) { return m["type"] == "token"; });
  CHECK(std::none_of(first_token, next.end(), [](const json& m) { return m["type"] == "queued"; }));
}

TEST_CASE("ws: a running generation is paused, updated, appended to and resumed", "[ws][steering]") {
  server_process s;
  auto refs = read_reference("stories260K-f32.greedy.jsonl");
  ws_client c(s.port());
  c.send({{"type", "generate"}, {"id", "g"}, {"prompt", refs[0].prompt}, {"max_tokens", 400}, {"temperature", 0}});
  std::vector<int> ids;
  json m = c.recv();
  REQUIRE(m["type"] == "token");
  ids.push_back(m["token_id"]);
  c.send({{"type", "pause"}, {"id", "g"}});
  for (m = c.recv(); m["type"] == "token"; m = c.recv()) ids.push_back(m["token_id"]);
  REQUIRE(m == json{{"type", "ack"}, {"id", "g"}, {"op", "pause"}});
  // Greedy up to the pause, as llama.cpp.
  const size_t k = ids.size();
  REQUIRE(k < refs[0].greedy_tokens.size());
  CHECK(ids == std::vector<int>(refs[0].greedy_tokens.begin(), refs[0].greedy_tokens.begin() + static_cast<long>(k)));

  // Paused: nothing comes but the answers to what is sent. A change the context cannot hold is
  // refused, and the generation goes on unchanged.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  c.send({{"type", "update"}, {"id", "g"}, {"max_tokens", 100000}});
  m = c.recv();
  CHECK(m["type"] == "error");
  CHECK(m["op"] == "update");
  CHECK(m["error"]["code"] == "context_length_exceeded");
  c.send({{"type", "update"}, {"id", "g"}, {"max_tokens", k + 30}, {"temperature", 0.9}, {"stop", json::array()}});
  CHECK(c.recv() == json{{"type", "ack"}, {"id", "g"}, {"op", "update"}});
  c.send({{"type", "append"}, {"id", "g"}, {"text", " Then a big dragon came."}});
  CHECK(c.recv() == json{{"type", "ack"}, {"id", "g"}, {"op", "append"}});
  c.send({{"type", "update"}, {"id", "nobody"}, {"temperature", 1}});
  m = c.recv();
  CHECK(m["type"] == "error");
  CHECK(m["id"] == "nobody");
  CHECK(m["op"] == "update");
  CHECK(m["error"]["param"] == "id");
  c.send({{"type", "resume"}, {"id", "g"}});
  CHECK(c.recv() == json{{"type", "ack"}, {"id", "g"}, {"op", "resume"}});
  for (m = c.recv(); m["type"] == "token"; m = c.recv()) ids.push_back(m["token_id"]);
  REQUIRE(m["type"] == "done");
  CHECK(m["finish_reason"] == "length");
  CHECK(m["usage"]["completion_tokens"] == k + 30);
  CHECK(ids.size() == k + 30);
  // The appended text is input: at least its words count as prompt tokens, and it is not echoed.
  const int prompt_tokens = m["usage"]["prompt_tokens"];
  CHECK(prompt_tokens >= static_cast<int>(refs[0].prompt_tokens.size()) + 5);
  CHECK(metric(s, "hearth_kv_blocks_used") == 0);
}

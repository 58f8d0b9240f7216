// WebSocket client messages: generate, cancel and the steering ones, and errors that carry the
// id when readable.
#include <catch2/catch.hpp>

#include <string>
#include <variant>

#include "proto/ws_api.h"
#include "proto_test_util.h"

using namespace hearth::proto;
using namespace hearth::proto::test;

namespace {

const limits ws_lim{512, 512};

ws_error expect_ws_error(const ws_message& m) {
  REQUIRE(std::holds_alternative<ws_error>(m));
  return std::get<ws_error>(m);
}

}  // namespace

TEST_CASE("ws: generate carries the id and a streaming request", "[proto]") {
  const ws_message m = parse_ws_message(
      R"({"type": "generate", "id": "a1", "prompt": "Once", "max_tokens": 8, "seed": 3})", ws_lim);
  REQUIRE(std::holds_alternative<ws_generate>(m));
  const ws_generate& g = std::get<ws_generate>(m);
  CHECK(g.id == "a1");
  CHECK(g.request.prompt == "Once");
  CHECK(g.request.max_tokens == 8);
  CHECK(g.request.sampling.seed == 3);
  CHECK(g.request.sampling.temperature == 0.8f);  // native defaults
  CHECK(g.request.stream);
  // stream is implied even when the client says otherwise.
  const ws_message s = parse_ws_message(
      R"({"type": "generate", "id": "a2", "tokens": [1], "stream": false})", ws_lim);
  REQUIRE(std::holds_alternative<ws_generate>(s));
  CHECK(std::get<ws_generate>(s).request.stream);
}

TEST_CASE("ws: cancel", "[proto]") {
  const ws_message m = parse_ws_message(R"({"type": "cancel", "id": "a1"})", ws_lim);
  REQUIRE(std::holds_alternative<ws_cancel>(m));
  CHECK(std::get<ws_cancel>(m).id == "a1");
}

TEST_CASE("ws: request errors carry the id", "[proto]") {
  ws_error e = expect_ws_error(parse_ws_message(
      R"({"type": "generate", "id": "a7", "prompt": "x", "temperature": -1})", ws_lim));
  CHECK(e.id == "a7");
  check_bad_request(e.error, "temperature", "temperature must be >= 0 (got -1)");
  e = expect_ws_error(parse_ws_message(R"({"type": "generate", "id": "a8"})", ws_lim));
  CHECK(e.id == "a8");
  check_bad_request(e.error, "prompt", "is required");
  e = expect_ws_error(parse_ws_message(R"({"type": "halt", "id": "a9"})", ws_lim));
  CHECK(e.id == "a9");
  check_bad_request(e.error, "type",
                    "type must be \"generate\", \"cancel\", \"update\", \"append\", \"pause\" or \"resume\" (got \"halt\")");
  e = expect_ws_error(parse_ws_message(R"({"id": "b1"})", ws_lim));
  CHECK(e.id == "b1");
  check_bad_request(e.error, "type", "type is required");
  e = expect_ws_error(parse_ws_message(R"({"type": 1, "id": "b2"})", ws_lim));
  CHECK(e.id == "b2");
  check_bad_request(e.error, "type", "type must be a string");
}

TEST_CASE("ws: without a readable id the error has none", "[proto]") {
  ws_error e = expect_ws_error(parse_ws_message(R"({"type": "generate", "id": 5})", ws_lim));
  CHECK(e.id.empty());
  check_bad_request(e.error, "id", "id must be a string");
  e = expect_ws_error(parse_ws_message(R"({"type": "cancel"})", ws_lim));
  CHECK(e.id.empty());
  check_bad_request(e.error, "id", "id (a string naming the request) is required");
  e = expect_ws_error(parse_ws_message(R"({"type": "cancel", "id": ""})", ws_lim));
  CHECK(e.id.empty());
  check_bad_request(e.error, "id", "id must be a non-empty string of at most 256 bytes");
  e = expect_ws_error(
      parse_ws_message("{\"type\": \"cancel\", \"id\": \"" + std::string(257, 'x') + "\"}", ws_lim));
  CHECK(e.id.empty());
  check_bad_request(e.error, "id", "at most 256 bytes");
  e = expect_ws_error(parse_ws_message("{\"type\": \"generate\", \"id\": \"a", ws_lim));
  CHECK(e.id.empty());
  check_bad_request(e.error, "", "malformed JSON");
  e = expect_ws_error(parse_ws_message("[]", ws_lim));
  check_bad_request(e.error, "", "message must be a JSON object");
  e = expect_ws_error(parse_ws_message("{\"id\": \"\xFF\"}", ws_lim));
  check_bad_request(e.error, "", "message is not valid UTF-8");
  // 256 bytes is still fine.
  const ws_message ok256 =
      parse_ws_message("{\"type\": \"cancel\", \"id\": \"" + std::string(256, 'x') + "\"}", ws_lim);
  CHECK(std::holds_alternative<ws_cancel>(ok256));
}

namespace {

ws_steer expect_steer(const ws_message& m) {
  REQUIRE(std::holds_alternative<ws_steer>(m));
  return std::get<ws_steer>(m);
}

}  // namespace

TEST_CASE("ws: update carries only the fields given", "[proto]") {
  ws_steer u = expect_steer(parse_ws_message(
      R"({"type": "update", "id": "g1", "temperature": 1.25, "stop": ["\n\n", "END"], "max_tokens": 900})", ws_lim));
  CHECK(u.id == "g1");
  CHECK(u.op == steer_kind::update);
  CHECK(u.update.temperature == 1.25f);
  CHECK_FALSE(u.update.top_k);
  CHECK_FALSE(u.update.top_p);
  CHECK_FALSE(u.update.min_p);
  CHECK(u.update.stop == std::vector<std::string>{"\n\n", "END"});
  CHECK(u.update.max_tokens == 900);  // past the context is the scheduler's to judge (rolling windows)
  u = expect_steer(parse_ws_message(R"({"type": "update", "id": "g1", "top_k": 5, "top_p": 0.5, "min_p": 0})", ws_lim));
  CHECK(u.update.top_k == 5);
  CHECK(u.update.top_p == 0.5f);
  CHECK(u.update.min_p == 0.0f);
  CHECK_FALSE(u.update.temperature);
  CHECK_FALSE(u.update.stop);
  // An empty array clears the stop strings: present, and empty.
  u = expect_steer(parse_ws_message(R"({"type": "update", "id": "g1", "stop": []})", ws_lim));
  CHECK(u.update.stop == std::vector<std::string>{});
}

TEST_CASE("ws: update refuses bad values, fixed fields and no change", "[proto]") {
  ws_error e = expect_ws_error(parse_ws_message(R"({"type": "update", "id": "g2", "top_p": 1.5})", ws_lim));
  CHECK(e.id == "g2");
  check_bad_request(e.error, "top_p", "top_p must be in (0, 1]");
  e = expect_ws_error(parse_ws_message(R"({"type": "update", "id": "g2", "temperature": "hot"})", ws_lim));
  check_bad_request(e.error, "temperature", "must be a number");
  e = expect_ws_error(parse_ws_message(R"({"type": "update", "id": "g2", "max_tokens": 0})", ws_lim));
  check_bad_request(e.error, "max_tokens", "max_tokens");
  e = expect_ws_error(parse_ws_message(R"({"type": "update", "id": "g2", "temperature": 1, "seed": 4})", ws_lim));
  check_bad_request(e.error, "seed", "seed cannot change while generating");
  e = expect_ws_error(parse_ws_message(R"({"type": "update", "id": "g2", "repeat_penalty": 1.1})", ws_lim));
  check_bad_request(e.error, "repeat_penalty", "cannot change");
  e = expect_ws_error(parse_ws_message(R"({"type": "update", "id": "g2"})", ws_lim));
  check_bad_request(e.error, "type", "update changes nothing");
  e = expect_ws_error(parse_ws_message(R"({"type": "update", "id": "g2", "stop": ["a", "b", "c", "d", "e"]})", ws_lim));
  check_bad_request(e.error, "stop", "too many stop strings");
}

TEST_CASE("ws: append takes text or tokens, not both and not nothing", "[proto]") {
  ws_steer a = expect_steer(parse_ws_message(R"({"type": "append", "id": "g3", "text": " Then a dragon came."})", ws_lim));
  CHECK(a.op == steer_kind::append);
  CHECK(a.text == " Then a dragon came.");
  CHECK_FALSE(a.tokens);
  a = expect_steer(parse_ws_message(R"({"type": "append", "id": "g3", "tokens": [5, 6, 511]})", ws_lim));
  CHECK(a.tokens == std::vector<int32_t>{5, 6, 511});
  ws_error e = expect_ws_error(parse_ws_message(R"({"type": "append", "id": "g3"})", ws_lim));
  check_bad_request(e.error, "text", "is required");
  e = expect_ws_error(parse_ws_message(R"({"type": "append", "id": "g3", "text": "a", "tokens": [1]})", ws_lim));
  check_bad_request(e.error, "text", "not both");
  e = expect_ws_error(parse_ws_message(R"({"type": "append", "id": "g3", "text": ""})", ws_lim));
  check_bad_request(e.error, "text", "nothing to append");
  e = expect_ws_error(parse_ws_message(R"({"type": "append", "id": "g3", "tokens": [512]})", ws_lim));
  check_bad_request(e.error, "tokens", "512");
}

TEST_CASE("ws: pause and resume, and the answers to steering", "[proto]") {
  CHECK(expect_steer(parse_ws_message(R"({"type": "pause", "id": "g4"})", ws_lim)).op == steer_kind::pause);
  CHECK(expect_steer(parse_ws_message(R"({"type": "resume", "id": "g4"})", ws_lim)).op == steer_kind::resume);
  CHECK(expect_ws_error(parse_ws_message(R"({"type": "pause"})", ws_lim)).error.param == "id");
  CHECK(ws_ack_event("g4", steer_kind::pause) == nlohmann::json{{"type", "ack"}, {"id", "g4"}, {"op", "pause"}});
  const nlohmann::json refused = ws_steer_error_event("g4", steer_kind::append, bad_request("text", "no room"));
  CHECK(refused["type"] == "error");
  CHECK(refused["id"] == "g4");
  CHECK(refused["op"] == "append");
  CHECK(refused["error"]["message"] == "no room");
  CHECK(refused["error"]["param"] == "text");
}

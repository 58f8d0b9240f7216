// WebSocket client messages: generate and cancel, and errors that carry the id when readable.
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
  e = expect_ws_error(parse_ws_message(R"({"type": "pause", "id": "a9"})", ws_lim));
  CHECK(e.id == "a9");
  check_bad_request(e.error, "type", "type must be \"generate\" or \"cancel\" (got \"pause\")");
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

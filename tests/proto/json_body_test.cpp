// Body-level validation shared by every API: UTF-8, JSON syntax, nesting, top-level object,
// and the typed field access with its messages.
#include <catch2/catch.hpp>

#include <string>

#include "proto/json_body.h"
#include "proto/native_api.h"
#include "proto_test_util.h"

using namespace hearth::proto;
using namespace hearth::proto::test;
using nlohmann::json;

namespace {

const limits body_lim{512, 512};

std::string nested(int depth) {
  return "{\"prompt\":\"x\",\"deep\":" + std::string(depth - 1, '[') + std::string(depth - 1, ']') +
         "}";
}

}  // namespace

TEST_CASE("json body: invalid UTF-8 is refused by name, before JSON parsing", "[proto]") {
  // 0xC3 0x28: a lead byte followed by a non-continuation byte, inside a JSON string.
  const std::string body = "{\"prompt\": \"caf\xC3\x28\"}";
  check_rejected(parse_generate(body, body_lim), "", "request body is not valid UTF-8");
  // An overlong encoding of '/' and a lone continuation byte.
  check_rejected(parse_generate("{\"prompt\": \"\xC0\xAF\"}", body_lim), "", "not valid UTF-8");
  check_rejected(parse_generate("\x80{}", body_lim), "", "not valid UTF-8 (byte 0)");
  // Valid multi-byte text passes.
  CHECK(ok(parse_generate("{\"prompt\": \"caf\xC3\xA9 \xF0\x9F\x98\x80\"}", body_lim)).prompt ==
        "caf\xC3\xA9 \xF0\x9F\x98\x80");
}

TEST_CASE("json body: malformed JSON carries the parser's message", "[proto]") {
  for (const char* body : {"", "{", "{\"prompt\": }", "{\"prompt\": \"x\",}", "{} trailing",
                           "{'prompt': 'x'}", "{\"prompt\": \"\\ud800\"}"}) {
    INFO("body: " << body);
    const api_error e = err(parse_generate(body, body_lim));
    check_bad_request(e, "", "malformed JSON: ");
    CHECK(e.message.find("[json.exception") == std::string::npos);  // tag stripped
    CHECK(e.message.size() > std::string("malformed JSON: ").size());
  }
  // A number beyond double range is a JSON error too (the parser throws out_of_range for it).
  check_rejected(parse_generate("{\"prompt\": \"x\", \"temperature\": 1e999}", body_lim), "",
                 "malformed JSON: ");
}

TEST_CASE("json body: the top level must be an object", "[proto]") {
  check_rejected(parse_generate("[1, 2]", body_lim), "", "request body must be a JSON object (got an array)");
  check_rejected(parse_generate("\"prompt\"", body_lim), "", "must be a JSON object (got a string)");
  check_rejected(parse_generate("null", body_lim), "", "must be a JSON object (got null)");
  check_rejected(parse_generate("42", body_lim), "", "must be a JSON object (got a number)");
}

TEST_CASE("json body: nesting deeper than the limit is refused", "[proto]") {
  REQUIRE(max_json_depth == 64);
  CHECK(ok(parse_generate(nested(64), body_lim)).prompt == "x");
  check_rejected(parse_generate(nested(65), body_lim), "", "deeper than 64 levels");
  // Brackets inside strings do not count, escaped quotes do not end strings.
  const std::string in_string = "{\"prompt\": \"\\\"" + std::string(1000, '[') + "\"}";
  CHECK(ok(parse_generate(in_string, body_lim)).prompt == "\"" + std::string(1000, '['));
  // A huge depth is refused without recursion trouble.
  check_rejected(parse_generate(std::string(1000000, '['), body_lim), "", "deeper than 64");
}

TEST_CASE("json body: parse_json_object names the input", "[proto]") {
  const result<json> r = parse_json_object("[]", "message");
  check_bad_request(err(r), "", "message must be a JSON object");
  CHECK(ok(parse_json_object("{\"a\": 1}")) == json{{"a", 1}});
}

TEST_CASE("json body: describe cuts long values on a character boundary", "[proto]") {
  CHECK(describe(json("abc")) == "\"abc\"");
  CHECK(describe(json(-1)) == "-1");
  CHECK(describe(json(1.5)) == "1.5");
  CHECK(describe(json(true)) == "true");
  // 38 ASCII bytes after the quote, then a 2-byte character straddling byte 40.
  const std::string s = std::string(38, 'a') + "\xC3\xA9" + "tail";
  const std::string d = describe(json(s));
  CHECK(d == "\"" + std::string(38, 'a') + "...");
}

TEST_CASE("json body: integral numbers follow JSON Schema's notion of integer", "[proto]") {
  CHECK(integral_value(json(16)) == 16);
  CHECK(integral_value(json::parse("16.0")) == 16);
  CHECK(integral_value(json::parse("1e3")) == 1000);
  CHECK(integral_value(json::parse("-9223372036854775808")) == INT64_MIN);
  CHECK_FALSE(integral_value(json::parse("9223372036854775808")).has_value());  // 2^63
  CHECK_FALSE(integral_value(json(1.5)).has_value());
  CHECK_FALSE(integral_value(json("16")).has_value());
  CHECK_FALSE(integral_value(json(true)).has_value());
  CHECK(is_integral_number(json::parse("1e30")));
  CHECK_FALSE(is_integral_number(json(0.5)));
}

TEST_CASE("json body: field_reader keeps the first error and reads nothing after it",
          "[proto]") {
  const json obj = {{"a", "x"}, {"b", 3}, {"c", nullptr}};
  field_reader r(obj, "outer.");
  CHECK_FALSE(r.string("c").has_value());  // null: absent, not an error
  CHECK_FALSE(r.failed());
  CHECK_FALSE(r.int32("a").has_value());
  REQUIRE(r.failed());
  CHECK(r.error().param == "outer.a");
  CHECK(r.error().message == "outer.a must be an integer (got \"x\")");
  CHECK_FALSE(r.int32("b").has_value());  // valid, but an error is already recorded
  r.fail("b", "second");
  CHECK(r.error().param == "outer.a");
}

TEST_CASE("api_error: OpenAI's error object, with null param and code when empty", "[proto]") {
  api_error e = bad_request("temperature", "temperature must be >= 0 (got -1)");
  CHECK(to_json(e) == json::parse(R"J({"error": {"message": "temperature must be >= 0 (got -1)",
      "type": "invalid_request_error", "param": "temperature", "code": null}})J"));
  api_error body;
  body.message = "request body is not valid UTF-8 (byte 3)";
  CHECK(to_json(body) == json::parse(R"J({"error": {"message": "request body is not valid UTF-8 (byte 3)",
      "type": "invalid_request_error", "param": null, "code": null}})J"));
  e.code = "x";
  CHECK(to_json(e)["error"]["code"] == "x");
}

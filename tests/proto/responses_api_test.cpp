// The Responses API (proto/responses_api.h): input items become the chat a template renders,
// tools and text.format map to tools.h and constraint.h (errors named as the Responses API names
// the fields), what hearth cannot do (stored responses) is a 400, and the response object and
// events have OpenAI's shapes.
#include <catch2/catch.hpp>

#include <string>

#include "proto/responses_api.h"
#include "proto_test_util.h"

using namespace hearth;
using namespace hearth::proto;
using hearth::proto::test::check_rejected;
using hearth::proto::test::ok;

namespace {

const limits responses_lim{512, 2048};

result<responses_request> responses_with(const std::string& fields) {
  return parse_responses(R"({"input": "Hi", )" + fields + "}", responses_lim);
}

}  // namespace

TEST_CASE("responses: input items, instructions and settings", "[proto][responses]") {
  const responses_request r = ok(parse_responses(R"({"model": "m", "instructions": "Be brief.", "max_output_tokens": 9,
      "temperature": 0.5, "stream": true, "store": false, "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Wea"}, {"type": "input_text", "text": "ther?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "4 C"},
        {"type": "message", "role": "developer", "content": "Answer in C."}]})",
                                                 responses_lim));
  REQUIRE(r.messages.size() == 5);
  CHECK(r.messages[0] == chat_message{"system", "Be brief."});
  CHECK(r.messages[1] == chat_message{"user", "Weather?"});
  CHECK(r.messages[2].role == "assistant");
  REQUIRE(r.messages[2].tool_calls.size() == 1);
  CHECK(r.messages[2].tool_calls[0] == tool_call{"call_1", "get_weather", "{\"city\":\"Oslo\"}"});
  CHECK(r.messages[3].role == "tool");
  CHECK(r.messages[3].tool_call_id == "call_1");
  CHECK(r.messages[3].content == "4 C");
  CHECK(r.messages[4] == chat_message{"developer", "Answer in C."});
  CHECK(r.max_output_tokens == 9);
  CHECK(r.sampling.temperature == 0.5f);
  CHECK(r.stream);
  CHECK(r.echo["instructions"] == "Be brief.");
  CHECK(r.echo["tools"] == nlohmann::json::array());
  CHECK(r.echo["text"]["format"]["type"] == "text");
}

TEST_CASE("responses: function tools, tool_choice and text.format", "[proto][responses]") {
  const std::string tools = R"("tools": [{"type": "function", "name": "f", "description": "d", "strict": true,
      "parameters": {"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "integer"}}}}])";
  const tool_request t = ok(responses_with(tools + R"(, "tool_choice": {"type": "function", "name": "f"},
      "parallel_tool_calls": false)")).tools;
  REQUIRE(t.tools.size() == 1);
  CHECK(t.mode == tool_mode::named);
  CHECK(t.named == "f");
  CHECK_FALSE(t.parallel);
  CHECK(t.template_value[0]["function"]["description"] == "d");
  CHECK(t.tools[0].parameters["properties"].begin().key() == "z");
  CHECK(ok(responses_with(tools + R"(, "tool_choice": "required")")).tools.forced());

  const auto schema = ok(responses_with(R"("text": {"format": {"type": "json_schema", "name": "n", "strict": true,
      "schema": {"type": "object", "properties": {"b": {"type": "boolean"}}, "required": ["b"]}}})")).constraint;
  REQUIRE(schema);
  CHECK(grammar_accepts(schema, R"({"b":true})"));
  CHECK_FALSE(grammar_accepts(schema, R"({"b":1})"));
  CHECK(ok(responses_with(R"("text": {"format": {"type": "json_object"}})")).constraint);
  CHECK_FALSE(ok(responses_with(R"("text": {"format": {"type": "text"}})")).constraint);
}

TEST_CASE("responses: what hearth cannot do, and malformed input, are 400s naming the field", "[proto][responses]") {
  check_rejected(responses_with(R"("previous_response_id": "resp_1")"), "previous_response_id", "stores no responses");
  check_rejected(responses_with(R"("store": true)"), "store", "stores no responses");
  check_rejected(responses_with(R"("background": true)"), "background", "not supported");
  check_rejected(parse_responses(R"({"model": "m"})", responses_lim), "input", "input is required");
  check_rejected(parse_responses(R"({"input": []})", responses_lim), "input", "non-empty array");
  check_rejected(parse_responses(R"({"input": [{"role": "user", "content": [{"type": "input_image"}]}]})", responses_lim),
                 "input[0].content", "input_image");
  check_rejected(parse_responses(R"({"input": [{"type": "web_search_call"}]})", responses_lim), "input[0].type",
                 "not supported");
  check_rejected(parse_responses(R"({"input": [{"type": "function_call", "name": "f"}]})", responses_lim),
                 "input[0].call_id", "needs call_id and name");
  check_rejected(responses_with(R"("max_output_tokens": 0)"), "max_output_tokens", "max_output_tokens");
  // Names as the Responses API has them, not as the chat fields they are read as.
  check_rejected(responses_with(R"("tools": [{"type": "function", "name": "a b"}])"), "tools[0].name", "tools[0].name");
  check_rejected(responses_with(R"("text": {"format": {"type": "json_schema", "name": "n",
                                     "schema": {"type": "object", "properties": {"n": {"multipleOf": 2}}}}})"),
                 "text.format.schema", "multipleOf");
  check_rejected(responses_with(R"("tools": [{"type": "function", "name": "f"}], "tool_choice": "required",
                                   "text": {"format": {"type": "json_object"}})"),
                 "tool_choice", "text.format");
}

TEST_CASE("responses: a \"type\" that is not a string is a 400, not an exception", "[proto][responses]") {
  using hearth::proto::test::err;
  CHECK(err(parse_responses(R"({"input": [{"role": "user", "content": [{"type": 1, "text": "x"}]}]})", responses_lim))
            .param == "input[0].content");
  CHECK(err(responses_with(R"("tools": [{"type": 2, "name": "f"}])")).param.starts_with("tools[0]"));
  CHECK(err(responses_with(R"("tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": 2.5, "name": "f"})"))
            .param == "tool_choice");
  CHECK(err(responses_with(R"("text": {"format": {"type": {"x": 1}}})")).param.starts_with("text.format"));
}

TEST_CASE("responses: the response object and its events", "[proto][responses]") {
  const nlohmann::json echo = {{"tools", nlohmann::json::array()}, {"temperature", 1.0}};
  const nlohmann::json started = response_object("resp_abc", 7, "m", echo, nullptr);
  CHECK(started["status"] == "in_progress");
  CHECK(started["output"] == nlohmann::json::array());
  CHECK(started["usage"].is_null());
  CHECK(started["temperature"] == 1.0);

  const responses_output cut{"", "Hel", {}, finish_reason::length, {5, 2}};
  const nlohmann::json incomplete = response_object("resp_abc", 7, "m", echo, &cut);
  CHECK(incomplete["status"] == "incomplete");
  CHECK(incomplete["incomplete_details"]["reason"] == "max_output_tokens");
  CHECK(incomplete["output"] == nlohmann::json::parse(R"([{"type": "message", "id": "msg_abc", "status": "completed",
      "role": "assistant", "content": [{"type": "output_text", "text": "Hel", "annotations": [], "logprobs": []}]}])"));
  CHECK(incomplete["usage"]["total_tokens"] == 7);

  const responses_output called{"think", "", {{"call_1", "f", "{}"}}, finish_reason::stop, {5, 2}};
  const nlohmann::json done = response_object("resp_abc", 7, "m", echo, &called);
  CHECK(done["status"] == "completed");
  REQUIRE(done["output"].size() == 2);
  CHECK(done["output"][0]["type"] == "reasoning");
  CHECK(done["output"][0]["content"][0]["text"] == "think");
  CHECK(done["output"][1] == nlohmann::json::parse(R"({"type": "function_call", "id": "fc_abc_0", "call_id": "call_1",
      "name": "f", "arguments": "{}", "status": "completed"})"));

  CHECK(responses_event("response.output_text.delta", 3, {{"delta", "x"}}) ==
        "event: response.output_text.delta\ndata: {\"delta\":\"x\",\"sequence_number\":3,\"type\":\"response.output_text.delta\"}\n\n");
}

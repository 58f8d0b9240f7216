// Anthropic's Messages API (proto/anthropic_api.h): requests become the chat a chat template
// renders (system, tool results before the turn's text, tool_use as calls), tools map to tools.h,
// errors are 400s naming the field; responses and stream events in Anthropic's shapes.
#include <catch2/catch.hpp>

#include <string>

#include "proto/anthropic_api.h"
#include "proto_test_util.h"

using namespace hearth;
using namespace hearth::proto;
using hearth::proto::test::check_rejected;
using hearth::proto::test::ok;

namespace {

const limits messages_lim{512, 2048};

result<messages_request> messages_with(const std::string& fields) {
  return parse_messages(R"({"max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}], )" + fields + "}",
                        messages_lim);
}

}  // namespace

TEST_CASE("anthropic: system, blocks, tool_use and tool_result become chat messages", "[proto][anthropic]") {
  const messages_request r = ok(parse_messages(R"({"model": "claude", "max_tokens": 32, "stream": true,
      "system": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}],
      "stop_sequences": ["END", ""], "temperature": 0.5, "top_k": 3,
      "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "call it", "signature": "x"},
          {"type": "text", "text": "Checking."},
          {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "text", "text": "Thanks"},
          {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "4 C"}]}]}]})",
                                              messages_lim));
  CHECK(r.max_tokens == 32);
  CHECK(r.stream);
  CHECK(r.stop == std::vector<std::string>{"END"});
  CHECK(r.sampling.temperature == 0.5f);
  CHECK(r.sampling.top_k == 3);
  REQUIRE(r.messages.size() == 5);
  CHECK(r.messages[0] == chat_message{"system", "Be brief."});
  CHECK(r.messages[1] == chat_message{"user", "Weather?"});
  CHECK(r.messages[2].role == "assistant");
  CHECK(r.messages[2].content == "Checking.");
  CHECK(r.messages[2].reasoning_content == "call it");
  REQUIRE(r.messages[2].tool_calls.size() == 1);
  CHECK(r.messages[2].tool_calls[0] == tool_call{"toolu_1", "get_weather", R"({"city":"Oslo"})"});
  // The tool result comes before the turn's text, as a tool message answering the call.
  CHECK(r.messages[3].role == "tool");
  CHECK(r.messages[3].tool_call_id == "toolu_1");
  CHECK(r.messages[3].content == "4 C");
  CHECK(r.messages[4] == chat_message{"user", "Thanks"});
  CHECK_FALSE(r.tools.active());
}

TEST_CASE("anthropic: tools and tool_choice map to tools.h's request", "[proto][anthropic]") {
  const std::string tools = R"("tools": [{"name": "get_weather", "description": "now",
      "input_schema": {"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "integer"}}}}])";
  const tool_request automatic = ok(messages_with(tools)).tools;
  REQUIRE(automatic.tools.size() == 1);
  CHECK(automatic.mode == tool_mode::automatic);
  CHECK(automatic.template_value[0]["function"]["name"] == "get_weather");
  CHECK(automatic.template_value[0]["function"]["description"] == "now");
  CHECK(automatic.tools[0].parameters["properties"].begin().key() == "z");  // written order kept
  CHECK(ok(messages_with(tools + R"(, "tool_choice": {"type": "any"})")).tools.mode == tool_mode::required);
  CHECK(ok(messages_with(tools + R"(, "tool_choice": {"type": "none"})")).tools.mode == tool_mode::none);
  const tool_request named =
      ok(messages_with(tools + R"(, "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true})"))
          .tools;
  CHECK(named.mode == tool_mode::named);
  CHECK(named.named == "get_weather");
  CHECK_FALSE(named.parallel);
}

TEST_CASE("anthropic: malformed requests are 400s naming the field", "[proto][anthropic]") {
  check_rejected(parse_messages(R"({"messages": [{"role": "user", "content": "Hi"}]})", messages_lim), "max_tokens",
                 "max_tokens is required");
  check_rejected(parse_messages(R"({"max_tokens": 4})", messages_lim), "messages", "messages is required");
  check_rejected(messages_with(R"("temperature": 1.5)"), "temperature", "[0, 1]");
  check_rejected(messages_with(R"("stop_sequences": "END")"), "stop_sequences", "array of at most 4");
  check_rejected(messages_with(R"("system": 3)"), "system", "string or an array of text blocks");
  check_rejected(parse_messages(R"({"max_tokens": 4, "messages": [{"role": "system", "content": "x"}]})", messages_lim),
                 "messages[0].role", "\"user\" or \"assistant\"");
  check_rejected(parse_messages(R"({"max_tokens": 4, "messages": [{"role": "user", "content": [{"type": "image"}]}]})",
                                messages_lim),
                 "messages[0].content[0]", "does not support");
  check_rejected(parse_messages(R"({"max_tokens": 4, "messages": [{"role": "user", "content": [{"type": "tool_use",
                                    "name": "f", "input": {}}]}]})", messages_lim),
                 "messages[0].content[0]", "a user message cannot hold");
  check_rejected(messages_with(R"("tools": [{"name": "a b", "input_schema": {}}])"), "tools[0].name", "letters, digits");
  check_rejected(messages_with(R"("tools": [{"name": "f"}])"), "tools[0].input_schema", "is required");
  check_rejected(messages_with(R"("tools": [{"name": "f", "input_schema": {}}], "tool_choice": {"type": "tool"})"),
                 "tool_choice", "needs the tool's name");
  check_rejected(messages_with(R"("tool_choice": {"type": "any"})"), "tool_choice", "needs tools");
  // count_tokens needs no max_tokens.
  CHECK(ok(parse_count_tokens(R"({"messages": [{"role": "user", "content": "Hi"}]})", messages_lim)).messages.size() == 1);
}

TEST_CASE("anthropic: responses, stop reasons, errors and stream events in Anthropic's shapes", "[proto][anthropic]") {
  CHECK(anthropic_stop_reason(finish_reason::stop, "", false) == "end_turn");
  CHECK(anthropic_stop_reason(finish_reason::stop, "END", false) == "stop_sequence");
  CHECK(anthropic_stop_reason(finish_reason::length, "", false) == "max_tokens");
  CHECK(anthropic_stop_reason(finish_reason::stop, "", true) == "tool_use");
  CHECK(anthropic_stop_reason(finish_reason::error, "", false).is_null());

  const nlohmann::json m = messages_response("msg_1", "m", "hmm", "Hi", {{"toolu_1", "f", R"({"x":1})"}},
                                             finish_reason::stop, "", {7, 3});
  CHECK(m == nlohmann::json::parse(R"({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
      "content": [{"type": "thinking", "thinking": "hmm", "signature": ""}, {"type": "text", "text": "Hi"},
                  {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": 1}}],
      "stop_reason": "tool_use", "stop_sequence": null,
      "usage": {"input_tokens": 7, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 3}})"));
  // A prompt partly read from the prefix cache: input_tokens is the rest (Anthropic's split).
  CHECK(messages_response("msg_3", "m", "", "Hi", {}, finish_reason::stop, "", {.prompt_tokens = 10, .completion_tokens = 2,
                                                                                .cached_tokens = 6})["usage"] ==
        nlohmann::json::parse(R"({"input_tokens": 4, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 6,
                                  "output_tokens": 2})"));
  CHECK(message_delta_event("end_turn", "", {.prompt_tokens = 10, .completion_tokens = 2, .cached_tokens = 6})["usage"] ==
        nlohmann::json::parse(R"({"input_tokens": 4, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 6,
                                  "output_tokens": 2})"));
  CHECK(messages_response("msg_2", "m", "", "", {}, finish_reason::stop, "END", {1, 1})["stop_sequence"] == "END");

  CHECK(anthropic_error({400, "bad", "invalid_request_error", "x", ""}) ==
        nlohmann::json::parse(R"({"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}})"));
  CHECK(anthropic_error({429, "busy", "", "", ""})["error"]["type"] == "rate_limit_error");
  CHECK(anthropic_error({503, "busy", "", "", ""})["error"]["type"] == "overloaded_error");

  CHECK(anthropic_event("message_stop", {{"type", "message_stop"}}) == "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
  CHECK(block_delta_event(2, "text_delta", "Hi") ==
        nlohmann::json::parse(R"({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Hi"}})"));
  CHECK(block_delta_event(0, "input_json_delta", "{}")["delta"]["partial_json"] == "{}");
  CHECK(message_delta_event("end_turn", "", usage{40, 5}) ==
        nlohmann::json::parse(R"({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                                  "usage": {"input_tokens": 40, "cache_creation_input_tokens": 0,
                                            "cache_read_input_tokens": 0, "output_tokens": 5}})"));
}

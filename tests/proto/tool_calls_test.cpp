// Tool calls in model output (proto/tool_calls.h): each real template's format found from its
// text, each format's calls parsed into OpenAI's shape, and stray or broken markup left as text.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "proto/tool_calls.h"
#include "reference.h"

using namespace hearth::proto;
using json = nlohmann::json;

namespace {

void check_call(const tool_call& c, const std::string& name, const json& args, const std::string& id = "") {
  CHECK(c.name == name);
  CHECK(json::parse(c.arguments) == args);
  CHECK(c.id == id);
}

const json weather = {{"city", "Paris"}, {"days", 3}};

}  // namespace

TEST_CASE("tool calls: each real template's format is found from its text", "[proto][tools]") {
  const std::map<std::string, tool_format> expected = {
      {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", tool_format::hermes},
      {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", tool_format::hermes},
      {"Qwen-Qwen2.5-7B-Instruct", tool_format::hermes},
      {"Qwen-Qwen3-0.6B", tool_format::hermes},
      {"Qwen-QwQ-32B", tool_format::hermes},
      {"ibm-granite-granite-4.0", tool_format::hermes},
      {"Qwen3-Coder", tool_format::xml_function},
      {"ByteDance-Seed-OSS", tool_format::xml_function},
      {"GLM-4.6", tool_format::glm},
      {"meta-llama-Llama-3.1-8B-Instruct", tool_format::llama3_json},
      {"meta-llama-Llama-3.3-70B-Instruct", tool_format::llama3_json},
      {"mistralai-Mistral-Nemo-Instruct-2407", tool_format::mistral},
      {"Mistral-Small-3.2-24B-Instruct-2506", tool_format::mistral},
      {"NVIDIA-Nemotron-Nano-v2", tool_format::nemotron},
      {"Kimi-K2-Instruct", tool_format::kimi},
      {"MiniMax-M2", tool_format::minimax},
      {"CohereForAI-c4ai-command-r7b-12-2024-tool_use", tool_format::command_r},
      {"TinyLlama-1.1B-Chat-v1.0", tool_format::none},
      {"Llama-2-7b-chat", tool_format::none},
  };
  for (const auto& [name, format] : expected) {
    INFO(name);
    CHECK(to_string(detect_tool_format(hearth::test::read_text(hearth::test::shared_path("templates/" + name + ".jinja")))) ==
          to_string(format));
  }
}

TEST_CASE("tool calls: every format's calls, with the text around them", "[proto][tools]") {
  SECTION("hermes") {
    const auto p = parse_tool_calls(tool_format::hermes,
                                    "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
                                    "\"days\": 3}}\n</tool_call>\n<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>");
    CHECK(p.content == "Let me check.");
    REQUIRE(p.calls.size() == 2);
    check_call(p.calls[0], "get_weather", weather);
    check_call(p.calls[1], "now", json::object());
  }
  SECTION("xml_function (Qwen3-Coder, Seed-OSS)") {
    const auto p = parse_tool_calls(tool_format::xml_function,
                                    "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n"
                                    "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>");
    CHECK(p.content.empty());
    REQUIRE(p.calls.size() == 1);
    check_call(p.calls[0], "get_weather", weather);
    const auto s = parse_tool_calls(tool_format::xml_function,
                                    "ok<seed:tool_call><function=f><parameter=q>a b</parameter></function></seed:tool_call>");
    REQUIRE(s.calls.size() == 1);
    check_call(s.calls[0], "f", {{"q", "a b"}});
    CHECK(s.content == "ok");
  }
  SECTION("glm") {
    const auto p = parse_tool_calls(tool_format::glm, "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris"
                                                      "</arg_value>\n<arg_key>days</arg_key>\n<arg_value>3</arg_value>\n</tool_call>");
    REQUIRE(p.calls.size() == 1);
    check_call(p.calls[0], "get_weather", weather);
  }
  SECTION("llama3_json") {
    const auto p = parse_tool_calls(tool_format::llama3_json,
                                    R"({"name": "get_weather", "parameters": {"city": "Paris", "days": 3}})");
    REQUIRE(p.calls.size() == 1);
    check_call(p.calls[0], "get_weather", weather);
    const auto two = parse_tool_calls(tool_format::llama3_json,
                                      R"(<|python_tag|>{"name": "a", "parameters": {}}; {"name": "b", "parameters": {"x": 1}})");
    REQUIRE(two.calls.size() == 2);
    check_call(two.calls[1], "b", {{"x", 1}});
    CHECK(parse_tool_calls(tool_format::llama3_json, R"({"answer": 42})").calls.empty());  // JSON, but no call
  }
  SECTION("mistral") {
    const auto nemo = parse_tool_calls(tool_format::mistral, R"([TOOL_CALLS][{"name": "get_weather", "arguments":
        {"city": "Paris", "days": 3}, "id": "abcDEF123"}])");
    REQUIRE(nemo.calls.size() == 1);
    check_call(nemo.calls[0], "get_weather", weather, "abcDEF123");
    const auto small = parse_tool_calls(
        tool_format::mistral, R"(Sure.[TOOL_CALLS]get_weather[ARGS]{"city": "Paris", "days": 3}[TOOL_CALLS]now[ARGS]{})");
    CHECK(small.content == "Sure.");
    REQUIRE(small.calls.size() == 2);
    check_call(small.calls[0], "get_weather", weather);
    check_call(small.calls[1], "now", json::object());
  }
  SECTION("nemotron, kimi, minimax, command_r") {
    const auto n = parse_tool_calls(tool_format::nemotron,
                                    R"(<TOOLCALL>[{"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}]</TOOLCALL>)");
    REQUIRE(n.calls.size() == 1);
    check_call(n.calls[0], "get_weather", weather);
    const auto k = parse_tool_calls(
        tool_format::kimi,
        "I'll look.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
        R"({"city": "Paris", "days": 3}<|tool_call_end|><|tool_calls_section_end|>)");
    CHECK(k.content == "I'll look.");
    REQUIRE(k.calls.size() == 1);
    check_call(k.calls[0], "get_weather", weather, "functions.get_weather:0");
    const auto m = parse_tool_calls(tool_format::minimax,
                                    "<minimax:tool_call>\n<invoke name=\"get_weather\">\n<parameter name=\"city\">Paris</parameter>\n"
                                    "<parameter name=\"days\">3</parameter>\n</invoke>\n</minimax:tool_call>");
    REQUIRE(m.calls.size() == 1);
    check_call(m.calls[0], "get_weather", weather);
    const auto c = parse_tool_calls(tool_format::command_r,
                                    R"(<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "get_weather", "parameters":
        {"city": "Paris", "days": 3}}]<|END_ACTION|>)");
    REQUIRE(c.calls.size() == 1);
    check_call(c.calls[0], "get_weather", weather, "0");
  }
}

TEST_CASE("tool calls: broken or stray markup stays text, never an error", "[proto][tools]") {
  const std::pair<tool_format, std::string> broken[] = {
      {tool_format::hermes, "<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}"},        // unclosed
      {tool_format::hermes, "<tool_call>{\"name\": \"f\", \"arguments\": {bad}}</tool_call>"},  // bad JSON
      {tool_format::hermes, "<tool_call>{\"arguments\": {}}</tool_call>"},                       // no name
      {tool_format::hermes, "<tool_call>{\"name\": \"f\"}</tool_call><tool_call>[1]</tool_call>"},  // one bad of two
      {tool_format::xml_function, "<tool_call><function=f><parameter=a>1</function></tool_call>"},
      {tool_format::glm, "<tool_call>f<arg_key>a</arg_key></tool_call>"},
      {tool_format::mistral, "[TOOL_CALLS]f[ARGS]{\"a\": "},
      {tool_format::mistral, "[TOOL_CALLS][{\"name\": \"f\"}, 3]"},
      {tool_format::llama3_json, "{\"name\": \"f\", \"parameters\": {\"a\": 1}"},
      {tool_format::kimi, "<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_end|>"
                          "<|tool_calls_section_end|>"},
      {tool_format::minimax, "<minimax:tool_call><invoke name=\"f\"></minimax:tool_call>"},
      {tool_format::none, "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>"},
  };
  for (const auto& [format, text] : broken) {
    INFO(to_string(format) << ": " << text);
    const parsed_output p = parse_tool_calls(format, text);
    CHECK(p.calls.empty());
    CHECK(p.content == text);
  }
  const parsed_output plain = parse_tool_calls(tool_format::hermes, "  Just text.\n");
  CHECK(plain.calls.empty());
  CHECK(plain.content == "  Just text.\n");
}

TEST_CASE("tool calls: an output cut short keeps its complete calls", "[proto][tool_calls]") {
  const std::string two = "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n"
                          "{\"name\": \"b\", \"arguments\": {\"x\": 1}}\n</tool_call>";
  const std::string cut = two + "\n<tool_call>\n{\"name\": \"c\", \"argu";
  CHECK(parse_tool_calls(tool_format::hermes, cut).calls.empty());  // not cut: broken markup is content
  const parsed_output kept = parse_tool_calls(tool_format::hermes, cut, true);
  REQUIRE(kept.calls.size() == 2);
  CHECK(kept.calls[1].name == "b");
  CHECK(kept.content.empty());
  // A section the cut left open is closed.
  const std::string kimi = "<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{}"
                           "<|tool_call_end|><|tool_call_begin|>functions.g:1<|tool_call_argument";
  REQUIRE(parse_tool_calls(tool_format::kimi, kimi, true).calls.size() == 1);
  // Nothing complete: all content, as without the cut.
  CHECK(parse_tool_calls(tool_format::hermes, "<tool_call>{\"na", true).content == "<tool_call>{\"na");
  // Whole output fine: the same calls either way.
  CHECK(parse_tool_calls(tool_format::hermes, two, true).calls == parse_tool_calls(tool_format::hermes, two).calls);
}

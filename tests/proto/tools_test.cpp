// Tools in chat requests (proto/tools.h): reading tools/tool_choice/parallel_tool_calls, the call
// grammar of every format (each sentence it allows is read back by parse_tool_calls as calls of
// the offered tools), and calls held back from a stream.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <string>

#include "grammar.h"
#include "proto/json_schema.h"
#include "proto/openai_api.h"
#include "proto/tool_calls.h"
#include "proto/tools.h"
#include "proto_test_util.h"

using namespace hearth;
using namespace hearth::proto;
using hearth::proto::test::check_rejected;
using hearth::proto::test::ok;

namespace {

const limits tools_lim{512, 2048};

result<chat_request> chat_with_tools(const std::string& fields) {
  return parse_chat(R"({"messages": [{"role": "user", "content": "Hi"}], )" + fields + "}", tools_lim);
}

// Two tools: one with an enum and an optional integer, one whose parameters use $defs.
const std::string weather_tools = R"("tools": [
  {"type": "function", "function": {"name": "get_weather", "description": "Weather now",
   "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 8},
     "unit": {"enum": ["c", "f"]}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
     "required": ["city", "unit"]}}},
  {"type": "function", "function": {"name": "add_item",
   "parameters": {"type": "object", "$defs": {"item": {"type": "object", "properties": {"id": {"type": "integer",
     "minimum": 0, "maximum": 99}}, "required": ["id"]}}, "properties": {"item": {"$ref": "#/$defs/item"}},
     "required": ["item"]}}}])";

tool_request weather_request(const std::string& extra = "") {
  return ok(chat_with_tools(weather_tools + extra)).tools;
}

// A random sentence of `g`, drawn byte by byte among the allowed bytes (a vocabulary of the 256
// single bytes); stops where the grammar may end with probability 1/4, or must.
std::optional<std::string> random_sentence(const std::shared_ptr<const grammar>& g, std::mt19937& rng) {
  static const token_trie bytes = [] {
    std::vector<std::string> b(257);
    for (int i = 0; i < 256; ++i) b[static_cast<size_t>(i)] = std::string(1, static_cast<char>(i));
    const std::vector<token_id> eog{256};
    return token_trie(b, eog);
  }();
  grammar_matcher m(g);
  std::string out;
  std::vector<uint32_t> mask;
  for (int step = 0; step < 4000; ++step) {
    if (m.must_end() || (m.can_end() && rng() % 4 == 0)) return out;
    m.allowed_tokens(bytes, mask);
    std::vector<int> allowed;
    for (int i = 0; i < 256; ++i) {
      if (mask[static_cast<size_t>(i) / 32] >> (i % 32) & 1u) allowed.push_back(i);
    }
    if (allowed.empty()) return std::nullopt;
    // Prefer printable ASCII so strings stay short and readable; other bytes still come up.
    std::vector<int> ascii;
    for (int b : allowed) {
      if (b >= 0x20 && b < 0x7f) ascii.push_back(b);
    }
    const std::vector<int>& pick = !ascii.empty() && rng() % 8 != 0 ? ascii : allowed;
    const char c = static_cast<char>(pick[rng() % pick.size()]);
    REQUIRE(m.accept(std::string_view(&c, 1)));
    out += c;
  }
  return std::nullopt;  // too long: not counted
}

// The calls must be of offered tools, with arguments valid for them (checked by hand: the two
// tools above).
void check_weather_calls(const parsed_output& p, bool single) {
  REQUIRE(!p.calls.empty());
  if (single) CHECK(p.calls.size() == 1);
  CHECK(p.content.empty());
  for (const tool_call& c : p.calls) {
    const nlohmann::json args = nlohmann::json::parse(c.arguments);
    REQUIRE(args.is_object());
    if (c.name == "get_weather") {
      REQUIRE(args.contains("city"));
      CHECK(args["city"].is_string());
      CHECK((args["unit"] == "c" || args["unit"] == "f"));
      if (args.contains("days")) CHECK((args["days"].is_number_integer() && args["days"] >= 1 && args["days"] <= 7));
      for (const auto& [k, v] : args.items()) CHECK((k == "city" || k == "unit" || k == "days"));
    } else {
      CHECK(c.name == "add_item");
      REQUIRE(args.contains("item"));
      CHECK(args["item"]["id"].is_number_integer());
      CHECK(args.size() == 1);
    }
  }
}

struct dialect_case {
  const char* name;
  tool_dialect dialect;
  const char* example;  // one hand-written call of get_weather in the format
};

const std::vector<dialect_case>& dialects() {
  static const std::vector<dialect_case> all = {
      {"hermes", {tool_format::hermes}, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\",\"unit\":\"c\"}}\n</tool_call>"},
      {"xml_function", {tool_format::xml_function},
       "<tool_call>\n<function=get_weather>\n<parameter=city>\n\"Oslo\"\n</parameter>\n<parameter=unit>\n\"c\"\n</parameter>\n"
       "</function>\n</tool_call>"},
      {"seed", {tool_format::xml_function, false, false, true},
       "<seed:tool_call>\n<function=get_weather>\n<parameter=city>\n\"Oslo\"\n</parameter>\n<parameter=unit>\n\"c\"\n"
       "</parameter>\n</function>\n</seed:tool_call>"},
      {"glm", {tool_format::glm},
       "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>\"Oslo\"</arg_value>\n<arg_key>unit</arg_key>\n"
       "<arg_value>\"c\"</arg_value>\n</tool_call>"},
      {"llama3_json", {tool_format::llama3_json}, "{\"name\": \"get_weather\", \"parameters\": {\"city\":\"Oslo\",\"unit\":\"c\"}}"},
      {"mistral array", {tool_format::mistral},
       "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\",\"unit\":\"c\"}}]"},
      {"mistral args", {tool_format::mistral, false, true}, "[TOOL_CALLS]get_weather[ARGS]{\"city\":\"Oslo\",\"unit\":\"c\"}"},
      {"nemotron", {tool_format::nemotron},
       "<TOOLCALL>[{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\",\"unit\":\"c\"}}]</TOOLCALL>"},
      {"kimi", {tool_format::kimi},
       "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
       "{\"city\":\"Oslo\",\"unit\":\"c\"}<|tool_call_end|><|tool_calls_section_end|>"},
      {"minimax", {tool_format::minimax},
       "<minimax:tool_call>\n<invoke name=\"get_weather\">\n<parameter name=\"city\">\"Oslo\"</parameter>\n"
       "<parameter name=\"unit\">\"c\"</parameter>\n</invoke>\n</minimax:tool_call>"},
      {"command_r", {tool_format::command_r},
       "<|START_ACTION|>[{\"tool_name\": \"get_weather\", \"parameters\": {\"city\":\"Oslo\",\"unit\":\"c\"}}]<|END_ACTION|>"},
  };
  return all;
}

}  // namespace

TEST_CASE("tools: tools, tool_choice and parallel_tool_calls are read", "[proto][tools]") {
  const tool_request t = weather_request();
  REQUIRE(t.tools.size() == 2);
  CHECK(t.tools[0].name == "get_weather");
  CHECK(t.tools[1].name == "add_item");
  CHECK(t.mode == tool_mode::automatic);
  CHECK(t.parallel);
  CHECK(t.active());
  CHECK_FALSE(t.forced());
  // The template gets the array as sent, keys in the order written.
  CHECK(t.template_value[0]["function"]["parameters"]["properties"].begin().key() == "city");
  CHECK(t.template_value[0]["function"]["description"] == "Weather now");

  CHECK(weather_request(R"(, "tool_choice": "none")").mode == tool_mode::none);
  CHECK_FALSE(weather_request(R"(, "tool_choice": "none")").active());
  CHECK(weather_request(R"(, "tool_choice": "required")").forced());
  const tool_request named = weather_request(R"(, "tool_choice": {"type": "function", "function": {"name": "add_item"}},
                                               "parallel_tool_calls": false)");
  CHECK(named.mode == tool_mode::named);
  CHECK(named.named == "add_item");
  CHECK_FALSE(named.parallel);
  // No tools: nothing active; an empty array is none.
  CHECK_FALSE(ok(chat_with_tools(R"("tools": [])")).tools.active());
  CHECK_FALSE(ok(chat_with_tools(R"("stream": false)")).tools.active());
  // A tool without parameters takes none.
  const tool_request bare = ok(chat_with_tools(R"("tools": [{"type": "function", "function": {"name": "now"}}])")).tools;
  CHECK(bare.tools[0].parameters["type"] == "object");
}

TEST_CASE("tools: malformed tools and tool_choice are 400s naming the field", "[proto][tools]") {
  check_rejected(chat_with_tools(R"("tools": {"type": "function"})"), "tools", "must be an array");
  check_rejected(chat_with_tools(R"("tools": [3])"), "tools[0]", "must be an object");
  check_rejected(chat_with_tools(R"("tools": [{"function": {"name": "a"}}])"), "tools[0].type", "is required");
  check_rejected(chat_with_tools(R"("tools": [{"type": "retrieval", "function": {"name": "a"}}])"), "tools[0].type",
                 "must be \"function\"");
  check_rejected(chat_with_tools(R"("tools": [{"type": "function"}])"), "tools[0].function", "must be an object");
  check_rejected(chat_with_tools(R"("tools": [{"type": "function", "function": {"name": "a b"}}])"),
                 "tools[0].function.name", "letters, digits");
  check_rejected(chat_with_tools(R"("tools": [{"type": "function", "function": {"description": "x"}}])"),
                 "tools[0].function.name", "got none");
  check_rejected(chat_with_tools(R"("tools": [{"type": "function", "function": {"name": "a", "parameters": []}}])"),
                 "tools[0].function.parameters", "JSON Schema object");
  check_rejected(chat_with_tools(R"("tools": [{"type": "function", "function": {"name": "a"}},
                                              {"type": "function", "function": {"name": "a"}}])"),
                 "tools[1].function.name", "two tools are named \"a\"");
  std::string many = R"("tools": [)";
  for (int i = 0; i < 129; ++i) many += std::string(i ? "," : "") + R"({"type": "function", "function": {"name": "f)" + std::to_string(i) + "\"}}";
  check_rejected(chat_with_tools(many + "]"), "tools", "at most 128");
  check_rejected(chat_with_tools(weather_tools + R"(, "tool_choice": "any")"), "tool_choice", "must be \"none\"");
  check_rejected(chat_with_tools(weather_tools + R"(, "tool_choice": {"function": {"name": "add_item"}})"), "tool_choice",
                 "must be \"none\"");
  check_rejected(chat_with_tools(weather_tools + R"(, "tool_choice": {"type": "function", "function": {"name": "nope"}})"),
                 "tool_choice", "\"nope\", which is not one of the tools");
  check_rejected(chat_with_tools(R"("tool_choice": "required")"), "tool_choice", "needs tools");
  check_rejected(chat_with_tools(weather_tools + R"(, "parallel_tool_calls": 1)"), "parallel_tool_calls", "boolean");
  check_rejected(chat_with_tools(weather_tools + R"(, "tool_choice": "required", "response_format": {"type": "json_object"})"),
                 "tool_choice", "cannot be combined");
  check_rejected(chat_with_tools(R"("functions": [{"name": "a"}])"), "functions", "not supported");
}

TEST_CASE("tools: which dialect a template teaches", "[proto][tools]") {
  CHECK(tool_dialect_of("{{ messages }}").taught);
  CHECK(tool_dialect_of("{{ messages }}").format == tool_format::hermes);
  CHECK(tool_dialect_of("{% for t in tools %}<tool_call>{% endfor %}").format == tool_format::hermes);
  CHECK_FALSE(tool_dialect_of("{% for t in tools %}<tool_call>{% endfor %}").taught);
  CHECK(tool_dialect_of("[TOOL_CALLS]{{ name }}[ARGS]").mistral_args);
  CHECK(tool_dialect_of("<seed:tool_call>").seed);
  // Renders tools in a format hearth does not parse (functionary): not taught, no format.
  const tool_dialect f = tool_dialect_of("{% for t in tools %}<function={{ t }}>{% endfor %}");
  CHECK(f.format == tool_format::none);
  CHECK_FALSE(f.taught);
  CHECK_THROWS_AS(tool_call_gbnf(f, weather_request(R"(, "tool_choice": "required")")), std::invalid_argument);
  // The markers a vocabulary may hold as control tokens, which a chat with tools shows.
  const auto markers = tool_markers({tool_format::mistral});
  CHECK(std::find(markers.begin(), markers.end(), "[TOOL_CALLS]") != markers.end());
  CHECK(tool_markers({tool_format::llama3_json}) == std::vector<std::string_view>{"<|python_tag|>"});
  CHECK(tool_markers({tool_format::xml_function, false, false, true})[0] == "<seed:tool_call>");
  CHECK(tool_markers(f).empty());
}

TEST_CASE("tools: the taught prompt lists each tool as Python's json.dumps writes it", "[proto][tools]") {
  const tool_request t = ok(chat_with_tools(R"("tools": [{"type": "function", "function": {"name": "now",
      "parameters": {"type": "object", "properties": {}}}}])")).tools;
  CHECK(hermes_tool_prompt(t) ==
        "You may call these functions:\n<tools>\n"
        "{\"type\": \"function\", \"function\": {\"name\": \"now\", \"parameters\": {\"type\": \"object\", \"properties\": {}}}}\n"
        "</tools>\nTo call one, write <tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
        "</tool_call>");
}

TEST_CASE("tools: every format's call grammar accepts its format's calls and only the offered tools", "[proto][tools]") {
  const tool_request required = weather_request(R"(, "tool_choice": "required")");
  const tool_request named = weather_request(R"(, "tool_choice": {"type": "function", "function": {"name": "add_item"}})");
  for (const dialect_case& d : dialects()) {
    INFO(d.name);
    const auto g = grammar::parse(tool_call_gbnf(d.dialect, required));
    CHECK(grammar_accepts(g, d.example));
    const parsed_output p = parse_tool_calls(d.dialect.format, d.example);
    REQUIRE(p.calls.size() == 1);
    CHECK(p.calls[0].name == "get_weather");
    CHECK(nlohmann::json::parse(p.calls[0].arguments) == nlohmann::json{{"city", "Oslo"}, {"unit", "c"}});
    // Arguments outside the schema, and a tool not offered, are not sentences.
    std::string bad_unit = d.example;
    bad_unit.replace(bad_unit.find("\"c\""), 3, "\"k\"");
    CHECK_FALSE(grammar_accepts(g, bad_unit));
    std::string other_tool = d.example;
    other_tool.replace(other_tool.find("get_weather"), 11, "get_wether1");
    CHECK_FALSE(grammar_accepts(g, other_tool));
    // Named: only that function.
    CHECK_FALSE(grammar_accepts(grammar::parse(tool_call_gbnf(d.dialect, named)), d.example));
  }
}

TEST_CASE("tools: random sentences of every call grammar parse into valid calls", "[proto][tools]") {
  std::mt19937 rng(20261130);
  const tool_request parallel = weather_request(R"(, "tool_choice": "required")");
  const tool_request single = weather_request(R"(, "tool_choice": "required", "parallel_tool_calls": false)");
  for (const dialect_case& d : dialects()) {
    INFO(d.name);
    for (const tool_request* t : {&parallel, &single}) {
      const auto g = grammar::parse(tool_call_gbnf(d.dialect, *t));
      int checked = 0;
      for (int i = 0; i < 40; ++i) {
        const std::optional<std::string> s = random_sentence(g, rng);
        if (!s) continue;
        INFO(*s);
        check_weather_calls(parse_tool_calls(d.dialect.format, *s), !t->parallel);
        ++checked;
      }
      CHECK(checked >= 30);
    }
  }
}

TEST_CASE("tools: parameters the call grammar cannot honour are refused naming the tool", "[proto][tools]") {
  const auto refused = [](const std::string& params, const tool_dialect& d) {
    const tool_request t = ok(chat_with_tools(R"("tools": [{"type": "function", "function": {"name": "a"}},
        {"type": "function", "function": {"name": "b", "parameters": )" + params + R"(}}], "tool_choice": "required")"))
                               .tools;
    try {
      tool_call_gbnf(d, t);
    } catch (const json_schema_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  const std::string not_keyword = refused(R"({"type": "object", "properties": {"x": {"not": {}}}})", {tool_format::hermes});
  CHECK(not_keyword.starts_with("tools[1].function.parameters/properties/x"));
  CHECK(not_keyword.find("\"not\"") != std::string::npos);
  CHECK(refused(R"({"type": "array"})", {tool_format::hermes}).starts_with("tools[1].function.parameters/type"));
  // Formats that write arguments one by one: the property is named in the path.
  const std::string xml = refused(R"({"type": "object", "properties": {"x": {"not": {}}}})", {tool_format::glm});
  CHECK(xml.starts_with("tools[1].function.parameters/properties/x"));
  CHECK(refused(R"({"anyOf": [{"type": "object"}]})", {tool_format::minimax}).find("one by one") != std::string::npos);
}

TEST_CASE("tools: a stream releases text up to call markup and parses the calls at the end", "[proto][tools]") {
  const std::string text = "Let me look. <tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}\n</tool_call>";
  for (size_t piece : {size_t{1}, size_t{3}, size_t{7}, text.size()}) {
    INFO(piece);
    tool_call_stream s(tool_format::hermes);
    std::string released;
    for (size_t at = 0; at < text.size(); at += piece) released += s.push(std::string_view(text).substr(at, piece));
    CHECK(released == "Let me look. ");
    const parsed_output p = s.finish();
    CHECK(p.content.empty());
    REQUIRE(p.calls.size() == 1);
    CHECK(p.calls[0].name == "f");
    CHECK(p.calls[0].arguments == "{\"x\":1}");
  }
  // A tail that only looked like an opener is released once it is not one, or at the end.
  tool_call_stream s(tool_format::hermes);
  CHECK(s.push("a <tool") == "a ");
  CHECK(s.push("s> b <t") == "<tools> b ");
  const parsed_output end = s.finish();
  CHECK(end.content == "<t");
  CHECK(end.calls.empty());
  // Broken markup is content after all.
  tool_call_stream broken(tool_format::hermes);
  CHECK(broken.push("<tool_call>{oops").empty());
  CHECK(broken.finish().content == "<tool_call>{oops");
  // Llama 3: calls are the whole output, so text that starts otherwise streams at once.
  tool_call_stream prose(tool_format::llama3_json);
  CHECK(prose.push("  ").empty());
  CHECK(prose.push("Hello {x}") == "  Hello {x}");
  tool_call_stream call(tool_format::llama3_json);
  CHECK(call.push("<|python").empty());
  CHECK(call.push("_tag|>{\"name\": \"f\", \"parameters\": {}}").empty());
  const parsed_output c = call.finish();
  REQUIRE(c.calls.size() == 1);
  CHECK(c.calls[0].name == "f");
}

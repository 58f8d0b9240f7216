// Tool calling through the daemon, with tiny-qwen25 (random weights, Qwen2.5's real template and
// 151k vocabulary: the tools reach the model through the template's own listing) and stories260K
// (no template: hearth teaches Hermes's format in a system message): a required or named choice
// always gives a well-formed call of an offered tool, whole and streamed; auto leaves prose as
// content; a history with calls and results renders; bad tools are 400s naming the field.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reference.h"
#include "server_process.h"

using namespace hearth::test;
using json = nlohmann::json;

namespace {

server_process& tool_server() {
  static server_process server({"-m", shared_path("models/arch/tiny-qwen25-f16.gguf")});
  return server;
}

server_process& taught_server() {
  static server_process server;  // stories260K
  return server;
}

// Small tools: stories260K spells JSON about a token a byte, and has 512 positions.
const json weather_tool = json::parse(R"({"type": "function", "function": {"name": "get_weather",
  "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 10},
  "unit": {"enum": ["c", "f"]}}, "required": ["city", "unit"]}}})");
const json time_tool = json::parse(R"({"type": "function", "function": {"name": "get_time",
  "parameters": {"type": "object", "properties": {"zone": {"type": "integer", "minimum": -12, "maximum": 14}},
  "required": ["zone"]}}})");

json tool_request(uint64_t seed, json tool_choice) {
  return {{"messages", {{{"role", "user"}, {"content", "Weather in Oslo?"}}}},
          {"tools", {weather_tool, time_tool}},
          {"tool_choice", std::move(tool_choice)},
          {"parallel_tool_calls", false},
          {"seed", seed}};
}

// A call's arguments against its tool's schema, checked by hand.
void check_arguments(const std::string& name, const std::string& arguments) {
  INFO(name << " " << arguments);
  const json a = json::parse(arguments, nullptr, false);
  REQUIRE(a.is_object());
  if (name == "get_weather") {
    CHECK(a.size() == 2);
    REQUIRE(a["city"].is_string());
    const std::string city = a["city"];
    CHECK(std::count_if(city.begin(), city.end(), [](unsigned char c) { return (c & 0xC0) != 0x80; }) <= 10);  // characters
    CHECK((a["unit"] == "c" || a["unit"] == "f"));
  } else {
    REQUIRE(name == "get_time");
    CHECK(a.size() == 1);
    REQUIRE(a["zone"].is_number_integer());
    CHECK(a["zone"] >= -12);
    CHECK(a["zone"] <= 14);
  }
}

// The one call of a whole answer, checked: finish_reason tool_calls, content null, an id.
json whole_call(const http_result& r) {
  INFO(r.body);
  REQUIRE(r.status == 200);
  const json choice = json::parse(r.body)["choices"][0];
  CHECK(choice["finish_reason"] == "tool_calls");
  CHECK(choice["message"]["content"].is_null());
  REQUIRE(choice["message"]["tool_calls"].size() == 1);
  const json call = choice["message"]["tool_calls"][0];
  CHECK(call["type"] == "function");
  CHECK(call["id"].get<std::string>().starts_with("call_"));
  check_arguments(call["function"]["name"], call["function"]["arguments"]);
  return call;
}

}  // namespace

TEST_CASE("tool calling: a required call is well-formed, whole and streamed alike", "[http][tools]") {
  auto& s = tool_server();
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    INFO("seed " << seed);
    const json call = whole_call(curl_json(s.url("/v1/chat/completions"), tool_request(seed, "required").dump()));

    json streamed = tool_request(seed, "required");
    streamed["stream"] = true;
    const http_result r = curl_json(s.url("/v1/chat/completions"), streamed.dump());
    REQUIRE(r.status == 200);
    std::string name, arguments, finish, content;
    int call_deltas = 0;
    for (const std::string& p : sse_payloads(r.body)) {
      if (p == "[DONE]") continue;
      const json c = json::parse(p)["choices"][0];
      if (c["delta"].contains("content") && c["delta"]["content"].is_string()) content += c["delta"]["content"].get<std::string>();
      if (c["delta"].contains("tool_calls")) {
        ++call_deltas;
        for (const json& t : c["delta"]["tool_calls"]) {
          CHECK(t["index"] == 0);
          CHECK(t["id"].get<std::string>().starts_with("call_"));
          name += t["function"].value("name", "");
          arguments += t["function"].value("arguments", "");
        }
      }
      if (c["finish_reason"].is_string()) finish = c["finish_reason"];
    }
    CHECK(call_deltas == 1);
    CHECK(content.empty());  // the call's markup is never streamed as text
    CHECK(finish == "tool_calls");
    CHECK(name == call["function"]["name"]);
    CHECK(arguments == call["function"]["arguments"]);  // same seed: the same call
  }
}

TEST_CASE("tool calling: a named choice calls that function", "[http][tools]") {
  auto& s = tool_server();
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    const json call = whole_call(curl_json(s.url("/v1/chat/completions"),
                                           tool_request(seed, {{"type", "function"}, {"function", {{"name", "get_time"}}}}).dump()));
    CHECK(call["function"]["name"] == "get_time");
  }
}

TEST_CASE("tool calling: auto leaves prose as content, and none does not show the tools", "[http][tools]") {
  auto& s = tool_server();
  json automatic = tool_request(1, "auto");
  automatic["max_tokens"] = 20;
  automatic["temperature"] = 0;
  const json a = json::parse(curl_json(s.url("/v1/chat/completions"), automatic.dump()).body);
  INFO(a.dump());
  CHECK(a["choices"][0]["message"]["content"].is_string());
  CHECK_FALSE(a["choices"][0]["message"].contains("tool_calls"));
  CHECK(a["choices"][0]["finish_reason"] != "tool_calls");

  json none = automatic;
  none["tool_choice"] = "none";
  const json n = json::parse(curl_json(s.url("/v1/chat/completions"), none.dump()).body);
  json bare = automatic;
  bare.erase("tools");
  bare.erase("tool_choice");
  const json b = json::parse(curl_json(s.url("/v1/chat/completions"), bare.dump()).body);
  // The tools' listing is part of the prompt only when they are offered.
  CHECK(n["usage"]["prompt_tokens"] == b["usage"]["prompt_tokens"]);
  CHECK(a["usage"]["prompt_tokens"].get<int>() > b["usage"]["prompt_tokens"].get<int>() + 50);
  CHECK(n["choices"][0]["message"]["content"] == b["choices"][0]["message"]["content"]);
}

TEST_CASE("tool calling: a history of calls and results renders, and bad tools are 400s", "[http][tools]") {
  auto& s = tool_server();
  json history = tool_request(2, "required");
  history["messages"] = json::parse(R"([
    {"role": "user", "content": "Weather in Oslo?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\", \"unit\": \"c\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "4 C, rain"},
    {"role": "user", "content": "And in Bergen?"}])");
  whole_call(curl_json(s.url("/v1/chat/completions"), history.dump()));

  const auto rejected = [&](json request, const std::string& param, const std::string& part) {
    const http_result r = curl_json(s.url("/v1/chat/completions"), request.dump());
    INFO(r.body);
    CHECK(r.status == 400);
    const json e = json::parse(r.body)["error"];
    CHECK(e["param"] == param);
    CHECK(e["message"].get<std::string>().find(part) != std::string::npos);
  };
  json bad_name = tool_request(1, "auto");
  bad_name["tools"][1]["function"]["name"] = "get time";
  rejected(bad_name, "tools[1].function.name", "letters, digits");
  json unknown = tool_request(1, {{"type", "function"}, {"function", {{"name", "get_date"}}}});
  rejected(unknown, "tool_choice", "not one of the tools");
  json unsupported = tool_request(1, "required");
  unsupported["tools"][1]["function"]["parameters"]["properties"]["zone"]["multipleOf"] = 2;
  rejected(unsupported, "tools", "tools[1].function.parameters/properties/zone");
  // Under auto no grammar is needed, so the same tools are fine.
  unsupported["tool_choice"] = "auto";
  unsupported["max_tokens"] = 5;
  CHECK(curl_json(s.url("/v1/chat/completions"), unsupported.dump()).status == 200);
  CHECK(curl(s.url("/health")).status == 200);
}

TEST_CASE("tool calling: a model without a tool template is taught the Hermes format", "[http][tools]") {
  auto& s = taught_server();
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    json request = tool_request(seed, "required");
    request["tools"] = json::array({weather_tool});
    const json call = whole_call(curl_json(s.url("/v1/chat/completions"), request.dump()));
    CHECK(call["function"]["name"] == "get_weather");
  }
  // Prose under auto stays content.
  json automatic = tool_request(1, "auto");
  automatic["tools"] = json::array({weather_tool});
  automatic["max_tokens"] = 20;
  const json a = json::parse(curl_json(s.url("/v1/chat/completions"), automatic.dump()).body);
  INFO(a.dump());
  CHECK(a["choices"][0]["message"]["content"].is_string());
  CHECK_FALSE(a["choices"][0]["message"].contains("tool_calls"));
}

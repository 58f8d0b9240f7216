// Structured outputs through the daemon: whatever the model (stories260K knows no JSON), a
// request with a schema gets a JSON text that validates against it, whole and streamed, on every
// API; the same seeded constrained request gives the same text alone and batched with others.
#include <catch2/catch.hpp>

#include <future>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server_process.h"

using namespace hearth::test;
using json = nlohmann::json;

namespace {

server_process& schema_server() {
  static server_process server({"--parallel", "4"});
  return server;
}

// A schema with every kind of constraint apps send, bounded so a model that rambles still ends.
const json review_schema = json::parse(R"({
  "type": "object",
  "properties": {
    "title": {"type": "string", "minLength": 1, "maxLength": 24},
    "rating": {"type": "integer", "minimum": 1, "maximum": 5},
    "score": {"type": "number", "minimum": -10, "maximum": 10},
    "verdict": {"enum": ["buy", "skip", "wait"]},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "minItems": 1, "maxItems": 3},
    "author": {"$ref": "#/$defs/person"},
    "date": {"type": "string", "format": "date"},
    "id": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"},
    "note": {"anyOf": [{"type": "null"}, {"type": "boolean"}]}
  },
  "required": ["title", "rating", "score", "verdict", "tags", "author", "date", "id", "note"],
  "additionalProperties": false,
  "$defs": {"person": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
                                                         "age": {"type": "integer", "minimum": 0, "maximum": 120}},
                       "required": ["name"], "additionalProperties": false}}
})");

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The schema above, checked by hand (independent of the converter and the grammar engine).
void check_review(const std::string& text) {
  INFO("output: " << text);
  const json j = json::parse(text, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j.size() == 9);
  REQUIRE(j["title"].is_string());
  CHECK(utf8_length(j["title"]) >= 1);
  CHECK(utf8_length(j["title"]) <= 24);
  REQUIRE(j["rating"].is_number_integer());
  CHECK(j["rating"] >= 1);
  CHECK(j["rating"] <= 5);
  REQUIRE(j["score"].is_number());
  CHECK(j["score"].get<double>() >= -10);
  CHECK(j["score"].get<double>() <= 10);
  CHECK((j["verdict"] == "buy" || j["verdict"] == "skip" || j["verdict"] == "wait"));
  REQUIRE(j["tags"].is_array());
  CHECK(j["tags"].size() >= 1);
  CHECK(j["tags"].size() <= 3);
  for (const auto& t : j["tags"]) {
    REQUIRE(t.is_string());
    CHECK(utf8_length(t) <= 8);
  }
  REQUIRE(j["author"].is_object());
  CHECK(j["author"]["name"].is_string());
  for (const auto& [k, v] : j["author"].items()) {
    CHECK((k == "name" || k == "age"));
    if (k == "age") CHECK((v.is_number_integer() && v >= 0 && v <= 120));
  }
  REQUIRE(j["date"].is_string());
  CHECK(std::regex_match(j["date"].get<std::string>(), std::regex(R"(\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]))")));
  REQUIRE(j["id"].is_string());
  CHECK(std::regex_match(j["id"].get<std::string>(), std::regex("[A-Z]{2}-[0-9]{3}")));
  CHECK((j["note"].is_null() || j["note"].is_boolean()));
}

json chat_request(uint64_t seed) {
  return {{"messages", {{{"role", "user"}, {"content", "Review the story as JSON."}}}},
          {"max_tokens", 440},
          {"temperature", 1.0},
          {"seed", seed},
          {"response_format", {{"type", "json_schema"}, {"json_schema", {{"name", "review"}, {"strict", true}, {"schema", review_schema}}}}}};
}

// A whole chat answer's content, checked (status 200, finish_reason stop). Catch's macros are for
// the test's own thread: requests sent from other threads use curl_json and come back here.
std::string chat_content(const http_result& r) {
  INFO(r.body);
  REQUIRE(r.status == 200);
  const json j = json::parse(r.body);
  CHECK(j["choices"][0]["finish_reason"] == "stop");
  return j["choices"][0]["message"]["content"];
}
std::string chat_content(const std::string& url, const json& request) { return chat_content(curl_json(url, request.dump())); }

// Sent from another thread (no Catch macros there).
std::future<http_result> send_async(const std::string& url, const json& request) {
  return std::async(std::launch::async, [url, body = request.dump()] { return curl_json(url, body); });
}

// The data payloads of an SSE body's events, "[DONE]" left out.
std::vector<json> sse_events(const std::string& body) {
  std::vector<json> out;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n\n", at);
    const std::string data = body.substr(at + 6, end - at - 6);
    if (data != "[DONE]") out.push_back(json::parse(data));
    at = end;
  }
  return out;
}

}  // namespace

TEST_CASE("structured output: every seed gives JSON that validates against the schema", "[http][structured]") {
  auto& s = schema_server();
  std::vector<std::future<http_result>> answers;
  for (uint64_t seed = 1; seed <= 8; ++seed) answers.push_back(send_async(s.url("/v1/chat/completions"), chat_request(seed)));
  for (auto& a : answers) check_review(chat_content(a.get()));
}

TEST_CASE("structured output: streamed deltas join into valid JSON and completions and generate do too", "[http][structured]") {
  auto& s = schema_server();
  json request = chat_request(42);
  request["stream"] = true;
  const http_result r = curl_json(s.url("/v1/chat/completions"), request.dump());
  REQUIRE(r.status == 200);
  std::string text;
  std::string finish;
  for (const json& e : sse_events(r.body)) {
    const json& c = e["choices"][0];
    if (c["delta"].contains("content") && c["delta"]["content"].is_string()) text += c["delta"]["content"].get<std::string>();
    if (c["finish_reason"].is_string()) finish = c["finish_reason"];
  }
  CHECK(finish == "stop");
  check_review(text);
  CHECK(text == chat_content(s.url("/v1/chat/completions"), chat_request(42)));  // streamed or whole: the same

  const json completion = json::parse(curl_json(s.url("/v1/completions"),
                                                json{{"prompt", "Once upon a time"}, {"max_tokens", 440}, {"seed", 7},
                                                     {"response_format", request["response_format"]}}
                                                    .dump())
                                          .body);
  check_review(completion["choices"][0]["text"]);

  const json generated = json::parse(curl_json(s.url("/v1/generate"), json{{"prompt", "Once upon a time"}, {"max_tokens", 440},
                                                                           {"json_schema", review_schema}}
                                                                          .dump())
                                         .body);
  CHECK(generated["finish_reason"] == "stop");
  check_review(generated["text"]);

  const json yes_no = json::parse(curl_json(s.url("/v1/generate"), json{{"prompt", "Once"}, {"max_tokens", 50},
                                                                        {"grammar", "root ::= (\"yes\" | \"no\") \"!\""}}
                                                                       .dump())
                                      .body);
  CHECK((yes_no["text"] == "yes!" || yes_no["text"] == "no!"));
  CHECK(yes_no["finish_reason"] == "stop");

  const json object = json::parse(curl_json(s.url("/v1/chat/completions"),
                                            json{{"messages", {{{"role", "user"}, {"content", "JSON please"}}}}, {"max_tokens", 440},
                                                 {"temperature", 0}, {"response_format", {{"type", "json_object"}}}}
                                                .dump())
                                      .body);
  const std::string content = object["choices"][0]["message"]["content"];
  INFO(content);
  if (object["choices"][0]["finish_reason"] == "stop") CHECK(json::parse(content, nullptr, false).is_object());
}

TEST_CASE("structured output: a constrained request gives the same text alone and batched with others",
          "[http][structured]") {
  auto& s = schema_server();
  const std::string alone = chat_content(s.url("/v1/chat/completions"), chat_request(1234));
  std::vector<std::future<http_result>> others;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    json r = chat_request(seed);
    if (seed == 2) r.erase("response_format");  // an unconstrained neighbour too (it may run to max_tokens)
    others.push_back(send_async(s.url("/v1/chat/completions"), r));
  }
  const std::string batched = chat_content(s.url("/v1/chat/completions"), chat_request(1234));
  for (auto& o : others) CHECK(o.get().status == 200);
  CHECK(batched == alone);
  check_review(alone);
}

TEST_CASE("structured output: an unsupported schema is a 400 naming the keyword, and the server goes on",
          "[http][structured]") {
  auto& s = schema_server();
  json request = chat_request(1);
  request["response_format"]["json_schema"]["schema"]["properties"]["rating"]["multipleOf"] = 2;
  const http_result r = curl_json(s.url("/v1/chat/completions"), request.dump());
  CHECK(r.status == 400);
  const json e = json::parse(r.body)["error"];
  CHECK(e["param"] == "response_format.json_schema.schema");
  CHECK(e["message"].get<std::string>().find("/properties/rating") != std::string::npos);
  CHECK(e["message"].get<std::string>().find("multipleOf") != std::string::npos);
  check_review(chat_content(s.url("/v1/chat/completions"), chat_request(2)));
}

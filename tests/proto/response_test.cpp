// Response shapes: OpenAI objects compared with literals written from the API reference,
// native and WebSocket events, SSE framing, ids.
#include <catch2/catch.hpp>

#include <cctype>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proto/generation_json.h"
#include "proto/ids.h"
#include "proto/native_api.h"
#include "proto/openai_api.h"
#include "proto/sse.h"
#include "proto/ws_api.h"

using namespace hearth::proto;
using nlohmann::json;

namespace {

const usage use{5, 7};

std::set<std::string> keys(const json& j) {
  std::set<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.insert(it.key());
  return k;
}

}  // namespace

TEST_CASE("openai: completion response", "[proto]") {
  const json j = completion_response("cmpl-abc", 1700000000, "stories", "Hi there",
                                     finish_reason::length, use);
  CHECK(j == json::parse(R"J({
    "id": "cmpl-abc", "object": "text_completion", "created": 1700000000, "model": "stories",
    "choices": [{"text": "Hi there", "index": 0, "logprobs": null, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})J"));
  CHECK(j["created"].is_number_integer());
  CHECK(j["usage"]["total_tokens"].is_number_integer());
}

TEST_CASE("openai: completion chunks and the usage chunk", "[proto]") {
  CHECK(completion_chunk("cmpl-1", 1, "m", "He", std::nullopt) == json::parse(R"J({
    "id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
    "choices": [{"text": "He", "index": 0, "logprobs": null, "finish_reason": null}]})J"));
  CHECK(completion_chunk("cmpl-1", 1, "m", "", finish_reason::stop, true) == json::parse(R"J({
    "id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
    "choices": [{"text": "", "index": 0, "logprobs": null, "finish_reason": "stop"}],
    "usage": null})J"));
  CHECK(completion_usage_chunk("cmpl-1", 1, "m", use) == json::parse(R"J({
    "id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m", "choices": [],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})J"));
}

TEST_CASE("openai: chat response", "[proto]") {
  const json j = chat_response("chatcmpl-x", 1700000001, "m", "Hello!", finish_reason::stop, use);
  CHECK(j == json::parse(R"J({
    "id": "chatcmpl-x", "object": "chat.completion", "created": 1700000001, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"},
                 "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})J"));
  CHECK(keys(j) == std::set<std::string>{"id", "object", "created", "model", "choices", "usage"});
}

TEST_CASE("openai: chat chunks: role, content, finish, usage", "[proto]") {
  CHECK(chat_role_chunk("chatcmpl-x", 2, "m") == json::parse(R"J({
    "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 2, "model": "m",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null,
                 "finish_reason": null}]})J"));
  CHECK(chat_content_chunk("chatcmpl-x", 2, "m", "Hel") == json::parse(R"J({
    "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 2, "model": "m",
    "choices": [{"index": 0, "delta": {"content": "Hel"}, "logprobs": null,
                 "finish_reason": null}]})J"));
  CHECK(chat_finish_chunk("chatcmpl-x", 2, "m", finish_reason::length) == json::parse(R"J({
    "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 2, "model": "m",
    "choices": [{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "length"}]})J"));
  CHECK(chat_content_chunk("chatcmpl-x", 2, "m", "lo", true)["usage"].is_null());
  CHECK(chat_content_chunk("chatcmpl-x", 2, "m", "lo", true).contains("usage"));
  CHECK(chat_usage_chunk("chatcmpl-x", 2, "m", use) == json::parse(R"J({
    "id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 2, "model": "m",
    "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})J"));
}

TEST_CASE("openai: models list", "[proto]") {
  CHECK(models_response("stories260K", 1700000002) == json::parse(R"J({"object": "list",
    "data": [{"id": "stories260K", "object": "model", "created": 1700000002,
              "owned_by": "hearth"}]})J"));
}

TEST_CASE("openai: finish reasons: cancelled and error are errors, never invented values",
          "[proto]") {
  CHECK(openai_finish_reason(finish_reason::stop) == "stop");
  CHECK(openai_finish_reason(finish_reason::length) == "length");
  CHECK_FALSE(openai_finish_reason(finish_reason::cancelled).has_value());
  CHECK_FALSE(openai_finish_reason(finish_reason::error).has_value());
  CHECK(chat_response("c", 1, "m", "", finish_reason::error, use)["choices"][0]["finish_reason"]
            .is_null());
  const api_error c = openai_error_for(finish_reason::cancelled, "server shutting down");
  CHECK(c.status == 503);
  CHECK(c.type == "server_error");
  CHECK(c.message == "generation cancelled: server shutting down");
  const api_error e = openai_error_for(finish_reason::error, "out of KV blocks");
  CHECK(e.status == 500);
  CHECK(e.type == "server_error");
  CHECK(e.message == "generation failed: out of KV blocks");
}

TEST_CASE("shutdown is its own reason, reported as 503 server_shutting_down, never as a cancel", "[proto]") {
  CHECK(to_string(finish_reason::shutdown) == "shutdown");
  CHECK_FALSE(openai_finish_reason(finish_reason::shutdown).has_value());
  const api_error s = openai_error_for(finish_reason::shutdown, "");
  CHECK(s.status == 503);
  CHECK(s.type == "server_error");
  CHECK(s.code == "server_shutting_down");
  CHECK(s.message == "the server is shutting down");
  CHECK(to_json(shutdown_error()) == json::parse(R"J({"error": {"message": "the server is shutting down",
    "type": "server_error", "param": null, "code": "server_shutting_down"}})J"));
  const json fin = generate_final_event(finish_reason::shutdown, use, timings{});
  CHECK(fin["finish_reason"] == "shutdown");
  CHECK(fin["error"]["code"] == "server_shutting_down");
  CHECK(fin["error"]["message"] == "the server is shutting down");
}

TEST_CASE("native: generate response and stream events", "[proto]") {
  timings t;
  t.queue_ms = 1.5;
  t.prompt_ms = 2;
  t.prompt_per_second = 2500;
  t.predicted_ms = 10;
  t.predicted_per_second = 700;
  const json timings_json = json::parse(R"J({"queue_ms": 1.5, "prompt_ms": 2.0,
      "prompt_per_second": 2500.0, "predicted_ms": 10.0, "predicted_per_second": 700.0})J");
  json want = json::parse(R"J({"text": "Hi", "tokens": [10, 11], "finish_reason": "stop",
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})J");
  want["timings"] = timings_json;
  CHECK(generate_response("Hi", {10, 11}, finish_reason::stop, use, t) == want);
  CHECK(generate_token_event(42, "lo") == json::parse(R"J({"token": {"id": 42, "text": "lo"}})J"));
  want = json::parse(R"J({"done": true, "text": "tail", "finish_reason": "cancelled",
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})J");
  want["timings"] = timings_json;
  json fin = generate_final_event(finish_reason::cancelled, use, t, "tail");
  CHECK(fin == want);
  fin = generate_final_event(finish_reason::error, use, t, "", "decode failed");
  CHECK(fin["finish_reason"] == "error");
  CHECK(fin["error"] == json::parse(R"J({"message": "decode failed"})J"));
  // A rate over zero time is not a number JSON can carry.
  t.prompt_per_second = std::numeric_limits<double>::infinity();
  CHECK(to_json(t)["prompt_per_second"].is_null());
}

TEST_CASE("websocket: token, done and error events", "[proto]") {
  CHECK(ws_token_event("a1", "Hel", 15) ==
        json::parse(R"J({"type": "token", "id": "a1", "text": "Hel", "token_id": 15})J"));
  const json done = ws_done_event("a1", finish_reason::length, use, timings{});
  CHECK(done["type"] == "done");
  CHECK(done["id"] == "a1");
  CHECK(done["text"] == "");
  CHECK(done["finish_reason"] == "length");
  CHECK(done["usage"] == json::parse(R"J({"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12})J"));
  CHECK(keys(done["timings"]) == std::set<std::string>{"queue_ms", "prompt_ms", "prompt_per_second",
                                                       "predicted_ms", "predicted_per_second"});
  CHECK_FALSE(done.contains("error"));
  CHECK(ws_done_event("a1", finish_reason::error, use, timings{}, "", "boom")["error"]["message"] ==
        "boom");
  const api_error e = bad_request("temperature", "temperature must be >= 0 (got -1)");
  CHECK(ws_error_event("a1", e) == json::parse(R"J({"type": "error", "id": "a1", "error": {
    "message": "temperature must be >= 0 (got -1)", "type": "invalid_request_error",
    "param": "temperature", "code": null}})J"));
  CHECK(ws_error_event("", e)["id"].is_null());
}

TEST_CASE("sse: data framing", "[proto]") {
  CHECK(sse_data(json{{"a", 1}}) == "data: {\"a\":1}\n\n");
  CHECK(sse_data(json::parse(R"J({"text": "line1\nline2"})J")) ==
        "data: {\"text\":\"line1\\nline2\"}\n\n");
  CHECK(sse_data("hello") == "data: hello\n\n");
  CHECK(sse_data(std::string("a\nb")) == "data: a\ndata: b\n\n");
  CHECK(sse_data(std::string_view("a\r\nb\rc")) == "data: a\ndata: b\ndata: c\n\n");
  CHECK(sse_done == "data: [DONE]\n\n");
  // Invalid UTF-8 in generated text never makes serialization throw.
  CHECK(sse_data(json{{"t", std::string("\xFF")}}) == "data: {\"t\":\"\xEF\xBF\xBD\"}\n\n");
}

TEST_CASE("ids: prefixes, alphabet, uniqueness across threads", "[proto]") {
  const std::string c = new_completion_id();
  const std::string h = new_chat_id();
  CHECK(c.rfind("cmpl-", 0) == 0);
  CHECK(c.size() == 5 + 24);
  CHECK(h.rfind("chatcmpl-", 0) == 0);
  CHECK(h.size() == 9 + 24);
  for (size_t i = 9; i < h.size(); ++i) CHECK(std::isalnum(static_cast<unsigned char>(h[i])));
  std::vector<std::vector<std::string>> per_thread(4);
  std::vector<std::thread> threads;
  for (auto& out : per_thread)
    threads.emplace_back([&out] {
      for (int i = 0; i < 250; ++i) out.push_back(new_chat_id());
    });
  for (std::thread& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& v : per_thread) all.insert(v.begin(), v.end());
  CHECK(all.size() == 1000);
  CHECK(unix_time_now() > 1600000000);
}

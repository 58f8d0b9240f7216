// POST /v1/completions and /v1/chat/completions: OpenAI defaults, prompt and message forms,
// the OpenAI-only rules, and the options refused rather than ignored.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "proto/openai_api.h"
#include "proto_test_util.h"

using namespace hearth::proto;
using namespace hearth::proto::test;

namespace {

const limits openai_lim{32000, 4096};

result<completion_request> cmpl(const std::string& fields) {
  return parse_completion(
      "{\"model\": \"m\", \"prompt\": \"Say hi\"" + (fields.empty() ? "" : ", " + fields) + "}",
      openai_lim);
}

result<chat_request> chat(const std::string& fields) {
  return parse_chat("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]" +
                        (fields.empty() ? "" : ", " + fields) + "}",
                    openai_lim);
}

result<chat_request> messages(const std::string& array) {
  return parse_chat("{\"messages\": " + array + "}", openai_lim);
}

}  // namespace

TEST_CASE("completions: OpenAI defaults", "[proto]") {
  const completion_request r = ok(cmpl(""));
  CHECK(r.model == "m");
  CHECK(r.prompt == "Say hi");
  CHECK_FALSE(r.tokens.has_value());
  CHECK(r.max_tokens == 16);
  CHECK(r.sampling.temperature == 1.0f);
  CHECK(r.sampling.top_p == 1.0f);
  CHECK(r.sampling.top_k == 0);
  CHECK(r.sampling.min_p == 0.0f);
  CHECK(r.sampling.repeat_penalty == 1.0f);
  CHECK(r.sampling.presence_penalty == 0.0f);
  CHECK(r.sampling.frequency_penalty == 0.0f);
  CHECK(r.stop.empty());
  CHECK_FALSE(r.stream);
  CHECK_FALSE(r.include_usage);
  // model is optional here (one model per daemon).
  CHECK(ok(parse_completion(R"({"prompt": "x"})", openai_lim)).model.empty());
  check_rejected(parse_completion(R"({"prompt": "x", "model": 3})", openai_lim), "model",
                 "model must be a string");
}

TEST_CASE("completions: the prompt forms OpenAI accepts, one prompt at a time", "[proto]") {
  using ids = std::vector<int32_t>;
  CHECK(ok(parse_completion(R"({"prompt": [1, 2, 3]})", openai_lim)).tokens == ids{1, 2, 3});
  CHECK(ok(parse_completion(R"({"prompt": ["text"]})", openai_lim)).prompt == "text");
  CHECK(ok(parse_completion(R"({"prompt": [[7, 8]]})", openai_lim)).tokens == ids{7, 8});
  CHECK(ok(parse_completion(R"({"prompt": ""})", openai_lim)).prompt == "");
  check_rejected(parse_completion(R"({})", openai_lim), "prompt", "prompt is required");
  check_rejected(parse_completion(R"({"prompt": null})", openai_lim), "prompt", "prompt is required");
  check_rejected(parse_completion(R"({"prompt": []})", openai_lim), "prompt", "prompt must not be empty");
  check_rejected(parse_completion(R"({"prompt": [[]]})", openai_lim), "prompt", "prompt[0] must not be empty");
  check_rejected(parse_completion(R"({"prompt": ["a", "b"]})", openai_lim), "prompt",
                 "prompt holds 2 prompts; only one prompt per request is supported");
  check_rejected(parse_completion(R"({"prompt": [[1], [2]]})", openai_lim), "prompt", "only one prompt");
  check_rejected(parse_completion(R"({"prompt": 5})", openai_lim), "prompt",
                 "prompt must be a string or an array of token ids");
  check_rejected(parse_completion(R"({"prompt": [1, 32000]})", openai_lim), "prompt",
                 "prompt[1] must be a token id in [0, 32000) (got 32000)");
  check_rejected(parse_completion(R"({"prompt": [[1, -4]]})", openai_lim), "prompt",
                 "prompt[0][1] must be a token id in [0, 32000)");
  check_rejected(parse_completion(R"({"prompt": [1, "a"]})", openai_lim), "prompt",
                 "prompt[1] must be an integer");
}

TEST_CASE("completions: temperature is capped at 2 as OpenAI does", "[proto]") {
  CHECK(ok(cmpl(R"("temperature": 2)")).sampling.temperature == 2.0f);
  CHECK(ok(cmpl(R"("temperature": 0)")).sampling.temperature == 0.0f);
  check_rejected(cmpl(R"("temperature": 2.5)"), "temperature", "temperature must be in [0, 2] (got 2.5)");
  check_rejected(cmpl(R"("temperature": -0.1)"), "temperature", "temperature must be >= 0");
  check_rejected(chat(R"("temperature": 3)"), "temperature", "temperature must be in [0, 2] (got 3)");
}

TEST_CASE("completions: fields and extensions are read", "[proto]") {
  const completion_request r = ok(cmpl(R"("max_tokens": 100, "top_p": 0.9, "top_k": 50,
      "min_p": 0.02, "presence_penalty": 0.5, "frequency_penalty": 0.25, "seed": 123,
      "stop": "\n", "stream": true, "stream_options": {"include_usage": true}, "user": "u1")"));
  CHECK(r.max_tokens == 100);
  CHECK(r.sampling.top_p == 0.9f);
  CHECK(r.sampling.top_k == 50);
  CHECK(r.sampling.min_p == 0.02f);
  CHECK(r.sampling.presence_penalty == 0.5f);
  CHECK(r.sampling.frequency_penalty == 0.25f);
  CHECK(r.sampling.seed == 123);
  CHECK(r.stop == std::vector<std::string>{"\n"});
  CHECK(r.stream);
  CHECK(r.include_usage);
  check_rejected(cmpl(R"("max_tokens": 4097)"), "max_tokens", "max_tokens must be <= 4096");
  check_rejected(cmpl(R"("max_tokens": 0)"), "max_tokens", "max_tokens must be >= 1");
}

TEST_CASE("completions: stream_options only with stream, include_usage a boolean", "[proto]") {
  check_rejected(cmpl(R"("stream_options": {"include_usage": true})"), "stream_options",
                 "stream_options is only allowed when stream is true");
  check_rejected(cmpl(R"("stream": true, "stream_options": {"include_usage": "yes"})"),
                 "stream_options.include_usage", "stream_options.include_usage must be a boolean");
  check_rejected(cmpl(R"("stream": true, "stream_options": true)"), "stream_options",
                 "stream_options must be an object");
  CHECK_FALSE(ok(cmpl(R"("stream": true, "stream_options": {})")).include_usage);
  CHECK_FALSE(ok(cmpl(R"("stream": false, "stream_options": null)")).include_usage);
}

TEST_CASE("completions: options that change the response shape are refused", "[proto]") {
  // n beyond the server's cap (these limits allow 1 choice; see the n test below).
  check_rejected(cmpl(R"("n": 2)"), "n", "n must be between 1 and 1 (got 2)");
  check_rejected(cmpl(R"("n": "1")"), "n", "n must be an integer");
  check_rejected(cmpl(R"("logprobs": 21)"), "logprobs", "logprobs must be an integer from 0 to 20 (got 21)");
  check_rejected(cmpl(R"("logprobs": -1)"), "logprobs", "logprobs must be an integer from 0 to 20 (got -1)");
  check_rejected(cmpl(R"("logprobs": "5")"), "logprobs", "logprobs");
  CHECK(ok(cmpl(R"("logprobs": 5)")).top_logprobs == 5);
  CHECK(ok(cmpl(R"("logprobs": 0)")).top_logprobs == 0);
  CHECK(ok(cmpl(R"("logprobs": null)")).top_logprobs == -1);
  check_rejected(cmpl(R"("echo": true)"), "echo", "echo is not supported");
  check_rejected(cmpl(R"("suffix": "}")"), "suffix", "suffix is not supported");
  check_rejected(cmpl(R"("best_of": 3)"), "best_of", "best_of is not supported");
  check_rejected(cmpl(R"("logit_bias": {"50256": -100})"), "logit_bias", "logit_bias is not supported");
  check_rejected(cmpl(R"("logit_bias": [1])"), "logit_bias", "logit_bias must be an object");
  // Their neutral values are fine.
  CHECK(ok(cmpl(R"("n": 1, "logprobs": null, "echo": false, "suffix": "", "best_of": 1,
      "logit_bias": {})")).prompt == "Say hi");
  CHECK(ok(cmpl(R"("logprobs": false, "suffix": null, "n": null)")).prompt == "Say hi");
}

TEST_CASE("chat: OpenAI defaults, and no max_tokens means until the end", "[proto]") {
  const chat_request r = ok(chat(""));
  CHECK(r.model == "m");
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0] == chat_message{"user", "Hi"});
  CHECK_FALSE(r.max_tokens.has_value());
  CHECK(r.sampling.temperature == 1.0f);
  CHECK(r.sampling.top_p == 1.0f);
  CHECK(r.sampling.top_k == 0);
  CHECK(r.sampling.min_p == 0.0f);
  CHECK_FALSE(r.stream);
  CHECK_FALSE(r.include_usage);
}

TEST_CASE("chat: max_completion_tokens and its deprecated name max_tokens", "[proto]") {
  CHECK(ok(chat(R"("max_tokens": 20)")).max_tokens == 20);
  CHECK(ok(chat(R"("max_completion_tokens": 30)")).max_tokens == 30);
  CHECK(ok(chat(R"("max_tokens": 30, "max_completion_tokens": 30)")).max_tokens == 30);
  check_rejected(chat(R"("max_tokens": 20, "max_completion_tokens": 30)"),
                 "max_completion_tokens", "max_tokens (20) and max_completion_tokens (30) disagree");
  check_rejected(chat(R"("max_completion_tokens": 0)"), "max_completion_tokens",
                 "max_completion_tokens must be >= 1");
  check_rejected(chat(R"("max_completion_tokens": 5000)"), "max_completion_tokens",
                 "max_completion_tokens must be <= 4096");
}

TEST_CASE("chat: roles, and content as a string, text parts or null for assistant", "[proto]") {
  const chat_request r = ok(messages(R"([
      {"role": "system", "content": "Be brief."},
      {"role": "developer", "content": "Use English."},
      {"role": "user", "content": [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}], "name": "bob"},
      {"role": "assistant", "content": null, "refusal": null},
      {"role": "assistant"},
      {"role": "tool", "content": "42", "tool_call_id": "c1"},
      {"role": "user", "content": []}])"));
  const std::vector<chat_message> want = {{"system", "Be brief."}, {"developer", "Use English."},
                                          {"user", "Hello, world", "bob"},  {"assistant", ""},
                                          {"assistant", ""},         {"tool", "42", "", "c1"},
                                          {"user", ""}};
  CHECK(r.messages == want);
}

TEST_CASE("chat: tool calls and reasoning of earlier turns are kept for the template", "[proto]") {
  const chat_request r = ok(messages(R"([
      {"role": "user", "content": "Weather?"},
      {"role": "assistant", "content": null, "reasoning_content": "Call it.",
       "tool_calls": [{"id": "call_1", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "content": "18C", "tool_call_id": "call_1", "name": "get_weather"}])"));
  REQUIRE(r.messages.size() == 3);
  CHECK(r.messages[1].reasoning_content == "Call it.");
  CHECK(r.messages[1].tool_calls == std::vector<tool_call>{{"call_1", "get_weather", "{\"city\": \"Paris\"}"}});
  CHECK(r.messages[2] == chat_message{"tool", "18C", "get_weather", "call_1"});
  check_rejected(messages(R"([{"role": "user", "content": "x", "tool_calls": []}])"), "messages[0].tool_calls",
                 "messages[0].tool_calls is allowed on assistant messages only");
  check_rejected(messages(R"([{"role": "assistant", "tool_calls": {}}])"), "messages[0].tool_calls",
                 "messages[0].tool_calls must be an array");
  check_rejected(messages(R"([{"role": "assistant", "tool_calls": [{"id": "a"}]}])"), "messages[0].tool_calls",
                 "messages[0].tool_calls[0] must be an object with a \"function\" object");
  check_rejected(messages(R"([{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}])"),
                 "messages[0].tool_calls[0].function.name", "messages[0].tool_calls[0].function.name is required");
  check_rejected(messages(R"([{"role": "assistant", "tool_calls": [{"type": "x", "function": {"name": "f"}}]}])"),
                 "messages[0].tool_calls[0].type", "must be \"function\"");
  check_rejected(messages(R"([{"role": "user", "content": "x", "name": 5}])"), "messages[0].name", "must be a string");
}

TEST_CASE("chat: bad messages name the message and field", "[proto]") {
  check_rejected(parse_chat(R"({})", openai_lim), "messages", "messages is required");
  check_rejected(messages(R"("hi")"), "messages", "messages must be an array");
  check_rejected(messages(R"([])"), "messages", "messages must not be empty");
  check_rejected(messages(R"([{"role": "user", "content": "a"}, "b"])"), "messages[1]",
                 "messages[1] must be an object");
  check_rejected(messages(R"([{"content": "a"}])"), "messages[0].role", "messages[0].role is required");
  check_rejected(messages(R"([{"role": 1, "content": "a"}])"), "messages[0].role",
                 "messages[0].role must be a string");
  check_rejected(messages(R"([{"role": "bot", "content": "a"}])"), "messages[0].role",
                 "messages[0].role must be one of system, developer, user, assistant, tool (got \"bot\")");
  check_rejected(messages(R"([{"role": "user"}])"), "messages[0].content",
                 "messages[0].content is required");
  check_rejected(messages(R"([{"role": "user", "content": null}])"), "messages[0].content",
                 "null is allowed only for assistant messages");
  check_rejected(messages(R"([{"role": "system", "content": 5}])"), "messages[0].content",
                 "messages[0].content must be a string or an array of text parts");
  check_rejected(messages(R"([{"role": "user", "content": "a"}, {"role": "user", "content": [
      {"type": "text", "text": "look"},
      {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}])"),
                 "messages[1].content",
                 "messages[1].content[1] has type \"image_url\"; only text parts are supported");
  check_rejected(messages(R"([{"role": "user", "content": [{"type": "text"}]}])"),
                 "messages[0].content", "messages[0].content[0].text must be a string");
  check_rejected(messages(R"([{"role": "user", "content": [{"type": "text", "text": 3}]}])"),
                 "messages[0].content", "messages[0].content[0].text must be a string (got 3)");
  check_rejected(messages(R"([{"role": "user", "content": ["hi"]}])"), "messages[0].content",
                 "messages[0].content[0] must be an object with a string \"type\"");
}

TEST_CASE("chat: options that change the response shape are refused", "[proto]") {
  check_rejected(chat(R"("n": 3)"), "n", "n must be between 1 and 1 (got 3)");
  check_rejected(chat(R"("top_logprobs": 2)"), "top_logprobs", "top_logprobs requires logprobs: true");
  check_rejected(chat(R"("logprobs": true, "top_logprobs": 21)"), "top_logprobs",
                 "top_logprobs must be an integer from 0 to 20 (got 21)");
  check_rejected(chat(R"("logprobs": 1)"), "logprobs", "logprobs");
  CHECK(ok(chat(R"("logprobs": true)")).top_logprobs == 0);
  CHECK(ok(chat(R"("logprobs": true, "top_logprobs": 20)")).top_logprobs == 20);
  CHECK(ok(chat(R"("logprobs": false)")).top_logprobs == -1);
  check_rejected(chat(R"("logit_bias": {"1": 5})"), "logit_bias", "logit_bias is not supported");
  check_rejected(chat(R"("functions": [{"name": "f"}])"), "functions", "functions is not supported");
  CHECK(ok(chat(R"("n": 1, "logprobs": false, "top_logprobs": null, "logit_bias": {},
      "tools": [], "tool_choice": "none", "response_format": {"type": "text"},
      "stream": true, "stream_options": {"include_usage": true}, "store": false)")).include_usage);
}

TEST_CASE("completions and chat: n choices up to the server's cap", "[proto]") {
  const limits lim{32000, 4096, 4};
  const auto c = parse_completion(R"({"prompt": "x", "n": 4})", lim);
  REQUIRE(std::holds_alternative<completion_request>(c));
  CHECK(std::get<completion_request>(c).n == 4);
  const auto h = parse_chat(R"({"messages": [{"role": "user", "content": "x"}], "n": 2})", lim);
  REQUIRE(std::holds_alternative<chat_request>(h));
  CHECK(std::get<chat_request>(h).n == 2);
  CHECK(std::get<chat_request>(parse_chat(R"({"messages": [{"role": "user", "content": "x"}], "n": null})", lim)).n == 1);
  check_rejected(parse_completion(R"({"prompt": "x", "n": 5})", lim), "n", "n must be between 1 and 4 (got 5)");
  check_rejected(parse_completion(R"({"prompt": "x", "n": 0})", lim), "n", "n must be between 1 and 4 (got 0)");
  check_rejected(parse_chat(R"({"messages": [{"role": "user", "content": "x"}], "n": 1.5})", lim), "n", "n must be an integer");
}

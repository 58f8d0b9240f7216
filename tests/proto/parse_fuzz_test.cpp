// Robustness: thousands of mutated and randomly assembled bodies through every parser. Each must
// return a value or an api_error (never throw), and each value must satisfy the contracts the
// server relies on.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "proto/request_contracts.h"

using namespace hearth;
using namespace hearth::proto;
using namespace hearth::proto::test;
using nlohmann::json;

namespace {

const limits fuzz_lim{512, 1024, 4};

const std::array<const char*, 13> seeds = {
    R"({"prompt": "Once upon a time", "max_tokens": 16, "temperature": 0.7, "stop": ["\n"]})",
    R"({"tokens": [1, 2, 3], "top_k": 5, "top_p": 0.9, "seed": 42, "stream": true})",
    R"({"model": "m", "prompt": [[1, 2]], "n": 1, "logprobs": null, "stream": true,
        "stream_options": {"include_usage": true}})",
    R"({"model": "m", "messages": [{"role": "system", "content": "S"}, {"role": "user",
        "content": [{"type": "text", "text": "Hi"}]}], "max_completion_tokens": 8})",
    R"({"type": "generate", "id": "a1", "prompt": "x", "min_p": 0.1})",
    R"({"type": "cancel", "id": "a1"})",
    R"({"messages": [{"role": "user", "content": "Hi"}], "temperature": 0.2, "stream": true})",
    R"({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": null},
        {"role": "tool", "content": "b"}], "n": 1, "stop": "x"})",
    R"({"content": "Hello", "add_special": true, "tokens": [1, 2]})",
    R"({"messages": [{"role": "user", "content": "w"}], "tool_choice": "required", "tools": [{"type": "function",
        "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}}]})",
    R"({"max_tokens": 8, "system": "s", "messages": [{"role": "user", "content": [{"type": "tool_result",
        "tool_use_id": "t", "content": "r"}]}], "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any"}, "stop_sequences": ["x"]})",
    R"({"input": [{"role": "user", "content": [{"type": "input_text", "text": "w"}]}, {"type": "function_call",
        "call_id": "c", "name": "f", "arguments": "{}"}, {"type": "function_call_output", "call_id": "c", "output": "o"}],
        "instructions": "i", "max_output_tokens": 8, "text": {"format": {"type": "json_object"}}})",
    R"({"model": "m", "input": ["a", [1, 2]], "encoding_format": "base64", "dimensions": 8})"};

const std::array<const char*, 45> field_names = {
    "prompt", "tokens", "max_tokens", "max_completion_tokens", "temperature", "top_k", "top_p",
    "min_p", "repeat_penalty", "repeat_last_n", "presence_penalty", "frequency_penalty", "seed",
    "stop", "stream", "stream_options", "n", "logprobs", "top_logprobs", "echo", "suffix",
    "best_of", "logit_bias", "tools", "functions", "response_format", "messages", "model",
    "content", "add_special", "parse_special", "type", "id", "tool_choice", "parallel_tool_calls", "system",
    "stop_sequences", "input_schema", "input", "instructions", "max_output_tokens", "encoding_format", "dimensions",
    "speculative", "mode"};

class body_maker {
 public:
  explicit body_maker(uint64_t seed) : rng_(seed) {}

  int below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  json random_value(int depth) {
    static const std::array<double, 8> reals = {0.5, -0.0, 1e308, -1e-300, 2.0000001, 1.5, 3e9, 0.05};
    static const std::array<int64_t, 8> ints = {0, 1, -1, 511, 512, 2147483647, -2147483648LL,
                                                INT64_MIN};
    static const std::array<const char*, 7> strings = {"", "user", "text", "a\nb", "\xC3\xA9",
                                                       "generate", "assistant"};
    switch (below(depth > 3 ? 6 : 9)) {
      case 0: return nullptr;
      case 1: return below(2) == 0;
      case 2: return ints[below(ints.size())];
      case 3: return uint64_t{18446744073709551615ull} - below(3);
      case 4: return reals[below(reals.size())];
      case 5: return strings[below(strings.size())];
      case 6: {
        json a = json::array();
        for (int i = below(6); i > 0; --i) a.push_back(random_value(depth + 1));
        return a;
      }
      case 7: return json{{"type", strings[below(strings.size())]}, {"text", random_value(depth + 1)}};
      default: {
        json o = json::object();
        for (int i = below(4); i > 0; --i) o[field_names[below(field_names.size())]] = random_value(depth + 1);
        return o;
      }
    }
  }

  // A seed body with some fields replaced by random values (messages' fields included).
  std::string structural() {
    json j = json::parse(seeds[below(seeds.size())]);
    for (int i = below(4) + 1; i > 0; --i) {
      if (j.contains("messages") && j["messages"].is_array() && !j["messages"].empty() && below(2)) {
        json& m = j["messages"][below(j["messages"].size())];
        static const std::array<const char*, 6> roles = {"user", "assistant", "system",
                                                         "developer", "tool", "bot"};
        if (!m.is_object()) continue;
        if (below(2)) m["role"] = below(3) ? json(roles[below(roles.size())]) : random_value(1);
        else m["content"] = random_value(1);
        continue;
      }
      j[field_names[below(field_names.size())]] = random_value(0);
    }
    return j.dump();
  }

  // A seed body with byte-level damage: flips, JSON-significant insertions, cuts.
  std::string bytes() {
    static const std::string alphabet = "{}[]\",:0123456789.eE+-tfnul\\ \x80\xC3\xFF";
    std::string s = seeds[below(seeds.size())];
    for (int i = below(4) + 1; i > 0 && !s.empty(); --i) {
      const size_t at = static_cast<size_t>(below(static_cast<int>(s.size())));
      switch (below(4)) {
        case 0: s[at] = static_cast<char>(below(256)); break;
        case 1: s.insert(at, 1, alphabet[below(alphabet.size())]); break;
        case 2: s.erase(at, static_cast<size_t>(below(8) + 1)); break;
        default: s.resize(at); break;
      }
    }
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

// Bodies each parser accepted, so the test shows it reached the success paths too.
struct accepted_counts {
  int generate = 0, completion = 0, chat = 0, ws = 0;
};
accepted_counts accepted;

// result_ok, counting the accepted bodies.
template <class T, class Check>
bool holds_up(const result<T>& r, int& accepted_count, Check&& check) {
  if (!is_error(r)) ++accepted_count;
  return result_ok(r, check);
}

// Runs every parser on the body; returns false if a contract is broken. Exceptions propagate.
bool check_all(const std::string& body) {
  const bool gen = holds_up(parse_generate(body, fuzz_lim), accepted.generate,
                            [](const generate_request& g) { return generate_ok(g, fuzz_lim); });
  const bool cmpl = holds_up(parse_completion(body, fuzz_lim), accepted.completion,
                             [](const completion_request& c) { return completion_ok(c, fuzz_lim); });
  const bool chat = holds_up(parse_chat(body, fuzz_lim), accepted.chat, [](const chat_request& c) { return chat_ok(c, fuzz_lim); });
  const bool resp = result_ok(parse_responses(body, fuzz_lim), [](const responses_request& r) { return responses_ok(r, fuzz_lim); });
  const bool msgs = result_ok(parse_messages(body, fuzz_lim), [](const messages_request& r) { return messages_ok(r, fuzz_lim, false); });
  const bool count = result_ok(parse_count_tokens(body, fuzz_lim), [](const messages_request& r) { return messages_ok(r, fuzz_lim, true); });
  const bool tok = result_ok(parse_tokenize(body), [](const tokenize_request&) { return true; });
  const bool detok = result_ok(parse_detokenize(body, fuzz_lim), [](const detokenize_request& d) { return detokenize_ok(d, fuzz_lim); });
  const bool embed = result_ok(parse_embeddings(body, fuzz_lim), [](const embeddings_request& e) { return embeddings_ok(e, fuzz_lim); });
  const ws_message m = parse_ws_message(body, fuzz_lim);
  if (!std::holds_alternative<ws_error>(m)) ++accepted.ws;
  return gen && cmpl && chat && resp && msgs && count && tok && detok && embed && ws_message_ok(m, fuzz_lim);
}

}  // namespace

TEST_CASE("parse fuzz: mutated and random bodies never throw and keep the contracts",
          "[proto]") {
  body_maker make(20240611);
  int checked = 0;
  for (int i = 0; i < 4000; ++i) {
    const std::string body = i % 2 == 0 ? make.structural() : make.bytes();
    bool good = false;
    try {
      good = check_all(body);
    } catch (const std::exception& e) {
      FAIL("parser threw " << e.what() << " on body: " << body);
    }
    if (!good) FAIL("contract broken on body: " << body);
    ++checked;
  }
  CHECK(checked == 4000);
  INFO("accepted: generate " << accepted.generate << ", completion " << accepted.completion
                             << ", chat " << accepted.chat << ", ws " << accepted.ws);
  CHECK(accepted.generate >= 100);
  CHECK(accepted.completion >= 100);
  CHECK(accepted.chat >= 100);
  CHECK(accepted.ws >= 100);
}

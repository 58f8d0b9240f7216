// POST /v1/generate, /v1/tokenize, /v1/detokenize: defaults, types, ranges, nulls.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "proto/native_api.h"
#include "proto_test_util.h"

using namespace hearth::proto;
using namespace hearth::proto::test;

namespace {

const limits generate_lim{512, 1024};

result<generate_request> gen(const std::string& fields) {
  return parse_generate("{\"prompt\": \"Once\"" + (fields.empty() ? "" : ", " + fields) + "}",
                        generate_lim);
}

}  // namespace

TEST_CASE("generate: llama-server defaults when only a prompt is given", "[proto]") {
  const generate_request r = ok(parse_generate(R"({"prompt": "Once upon a time"})", generate_lim));
  CHECK(r.prompt == "Once upon a time");
  CHECK_FALSE(r.tokens.has_value());
  CHECK_FALSE(r.max_tokens.has_value());
  CHECK(r.sampling.temperature == 0.8f);
  CHECK(r.sampling.top_k == 40);
  CHECK(r.sampling.top_p == 0.95f);
  CHECK(r.sampling.min_p == 0.05f);
  CHECK(r.sampling.repeat_penalty == 1.0f);
  CHECK(r.sampling.presence_penalty == 0.0f);
  CHECK(r.sampling.frequency_penalty == 0.0f);
  CHECK(r.stop.empty());
  CHECK_FALSE(r.stream);
}

TEST_CASE("generate: every field read", "[proto]") {
  const generate_request r = ok(parse_generate(R"({"tokens": [1, 2, 511], "max_tokens": 32,
      "temperature": 0, "top_k": 5, "top_p": 0.5, "min_p": 0.1, "repeat_penalty": 1.1,
      "repeat_last_n": -1, "presence_penalty": -2, "frequency_penalty": 2, "seed": 7,
      "stop": ["\n\n", "END"], "stream": true})", generate_lim));
  CHECK_FALSE(r.prompt.has_value());
  CHECK(r.tokens == std::vector<int32_t>{1, 2, 511});
  CHECK(r.max_tokens == 32);
  CHECK(r.sampling.temperature == 0.0f);
  CHECK(r.sampling.top_k == 5);
  CHECK(r.sampling.top_p == 0.5f);
  CHECK(r.sampling.min_p == 0.1f);
  CHECK(r.sampling.repeat_penalty == 1.1f);
  CHECK(r.sampling.repeat_last_n == -1);
  CHECK(r.sampling.presence_penalty == -2.0f);
  CHECK(r.sampling.frequency_penalty == 2.0f);
  CHECK(r.sampling.seed == 7);
  CHECK(r.stop == std::vector<std::string>{"\n\n", "END"});
  CHECK(r.stream);
}

TEST_CASE("generate: exactly one of prompt and tokens", "[proto]") {
  check_rejected(parse_generate(R"({"prompt": "a", "tokens": [1]})", generate_lim), "prompt",
                 "either prompt or tokens, not both");
  check_rejected(parse_generate(R"({})", generate_lim), "prompt", "prompt (a string) or tokens");
  check_rejected(parse_generate(R"({"prompt": null, "tokens": null})", generate_lim), "prompt",
                 "is required");
  check_rejected(parse_generate(R"({"tokens": []})", generate_lim), "tokens", "tokens must not be empty");
  // null means absent: the other one is used.
  CHECK(ok(parse_generate(R"({"prompt": null, "tokens": [3]})", generate_lim)).tokens ==
        std::vector<int32_t>{3});
  CHECK(ok(parse_generate(R"({"prompt": "", "tokens": null})", generate_lim)).prompt == "");
}

TEST_CASE("generate: token ids are checked against the vocabulary", "[proto]") {
  check_rejected(parse_generate(R"({"tokens": [1, 512]})", generate_lim), "tokens",
                 "tokens[1] must be a token id in [0, 512) (got 512)");
  check_rejected(parse_generate(R"({"tokens": [-1]})", generate_lim), "tokens",
                 "tokens[0] must be a token id in [0, 512) (got -1)");
  check_rejected(parse_generate(R"({"tokens": [1, 2.5]})", generate_lim), "tokens",
                 "tokens[1] must be an integer (got 2.5)");
  check_rejected(parse_generate(R"({"tokens": [1, "2"]})", generate_lim), "tokens",
                 "tokens[1] must be an integer");
  check_rejected(parse_generate(R"({"tokens": [18446744073709551615]})", generate_lim), "tokens",
                 "tokens[0] must be a token id in [0, 512)");
  check_rejected(parse_generate(R"({"tokens": "1 2 3"})", generate_lim), "tokens",
                 "tokens must be an array of token ids");
  CHECK(ok(parse_generate(R"({"tokens": [0, 511.0]})", generate_lim)).tokens ==
        std::vector<int32_t>{0, 511});
}

TEST_CASE("generate: wrong types name the field and the expected type", "[proto]") {
  check_rejected(gen(R"("max_tokens": "16")"), "max_tokens", "max_tokens must be an integer");
  check_rejected(gen(R"("max_tokens": 16.5)"), "max_tokens", "max_tokens must be an integer (got 16.5)");
  check_rejected(gen(R"("max_tokens": true)"), "max_tokens", "max_tokens must be an integer");
  check_rejected(gen(R"("top_k": [40])"), "top_k", "top_k must be an integer");
  check_rejected(gen(R"("temperature": "0.5")"), "temperature", "temperature must be a number");
  check_rejected(gen(R"("stream": 1)"), "stream", "stream must be a boolean (got 1)");
  check_rejected(gen(R"("stream": "true")"), "stream", "stream must be a boolean");
  check_rejected(parse_generate(R"({"prompt": 5})", generate_lim), "prompt", "prompt must be a string (got 5)");
  check_rejected(parse_generate(R"({"prompt": ["a"]})", generate_lim), "prompt", "prompt must be a string");
  // An integral value written as a float is an integer.
  CHECK(ok(gen(R"("max_tokens": 16.0)")).max_tokens == 16);
  CHECK(ok(gen(R"("top_k": 4e1)")).sampling.top_k == 40);
}

TEST_CASE("generate: integers outside int32 and numbers outside float are refused", "[proto]") {
  check_rejected(gen(R"("max_tokens": 2147483648)"), "max_tokens",
                 "max_tokens is out of range for a 32-bit integer (got 2147483648)");
  check_rejected(gen(R"("top_k": -2147483649)"), "top_k", "out of range for a 32-bit integer");
  check_rejected(gen(R"("max_tokens": 1e20)"), "max_tokens", "out of range for a 32-bit integer");
  check_rejected(gen(R"("repeat_last_n": 99999999999999999999)"), "repeat_last_n",
                 "out of range for a 32-bit integer");
  check_rejected(gen(R"("temperature": 1e39)"), "temperature",
                 "temperature must be a finite number");
  check_rejected(gen(R"("top_p": -1e300)"), "top_p", "top_p must be a finite number");
}

TEST_CASE("generate: ranges use the sampler's messages", "[proto]") {
  check_rejected(gen(R"("temperature": -1)"), "temperature", "temperature must be >= 0 (got -1)");
  check_rejected(gen(R"("top_k": -1)"), "top_k", "top_k must be >= 0 (got -1)");
  check_rejected(gen(R"("top_p": 0)"), "top_p", "top_p must be in (0, 1] (got 0)");
  check_rejected(gen(R"("top_p": 1.5)"), "top_p", "top_p must be in (0, 1] (got 1.5)");
  check_rejected(gen(R"("min_p": -0.5)"), "min_p", "min_p must be in [0, 1] (got -0.5)");
  check_rejected(gen(R"("min_p": 1.5)"), "min_p", "min_p must be in [0, 1]");
  check_rejected(gen(R"("repeat_penalty": 0)"), "repeat_penalty", "repeat_penalty must be > 0 (got 0)");
  check_rejected(gen(R"("repeat_last_n": -2)"), "repeat_last_n", "repeat_last_n must be >= -1");
  check_rejected(gen(R"("presence_penalty": 2.5)"), "presence_penalty",
                 "presence_penalty must be in [-2, 2] (got 2.5)");
  check_rejected(gen(R"("frequency_penalty": -3)"), "frequency_penalty",
                 "frequency_penalty must be in [-2, 2] (got -3)");
  check_rejected(gen(R"("max_tokens": 0)"), "max_tokens", "max_tokens must be >= 1 (got 0)");
  check_rejected(gen(R"("max_tokens": -5)"), "max_tokens", "max_tokens must be >= 1");
  check_rejected(gen(R"("max_tokens": 1025)"), "max_tokens",
                 "max_tokens must be <= 1024, the model's context length (got 1025)");
  // Bounds themselves are accepted; the native API does not cap temperature at 2.
  const generate_request r = ok(gen(R"("max_tokens": 1024, "top_p": 1, "min_p": 1,
      "top_k": 0, "temperature": 5, "presence_penalty": 2, "frequency_penalty": -2)"));
  CHECK(r.max_tokens == 1024);
  CHECK(r.sampling.temperature == 5.0f);
}

TEST_CASE("generate: seed is any uint64, and absent, null or -1 draw a random one", "[proto]") {
  CHECK(ok(gen(R"("seed": 0)")).sampling.seed == 0);
  CHECK(ok(gen(R"("seed": 18446744073709551615)")).sampling.seed == UINT64_MAX);
  CHECK(ok(gen(R"("seed": 9223372036854775808)")).sampling.seed == (uint64_t{1} << 63));
  CHECK(ok(gen(R"("seed": 1e19)")).sampling.seed == 10000000000000000000ull);
  check_rejected(gen(R"("seed": -2)"), "seed", "seed must be an integer in [0, 18446744073709551615]");
  check_rejected(gen(R"("seed": 1.5)"), "seed", "seed must be an integer");
  check_rejected(gen(R"("seed": "42")"), "seed", "seed must be an integer");
  check_rejected(gen(R"("seed": 1e20)"), "seed", "seed must be an integer");
  // Random seeds: 8 draws from a 64-bit generator all equal would mean it is not random.
  for (const char* fields : {"", R"("seed": null)", R"("seed": -1)"}) {
    INFO("fields: " << fields);
    std::vector<uint64_t> seeds;
    for (int i = 0; i < 8; ++i) seeds.push_back(ok(gen(fields)).sampling.seed);
    CHECK(std::count(seeds.begin(), seeds.end(), seeds[0]) == 1);
  }
}

TEST_CASE("generate: stop is a string or up to 4 strings, empty ones dropped", "[proto]") {
  using strings = std::vector<std::string>;
  CHECK(ok(gen(R"("stop": "END")")).stop == strings{"END"});
  CHECK(ok(gen(R"("stop": ["a", "b", "c", "d"])")).stop == strings{"a", "b", "c", "d"});
  CHECK(ok(gen(R"("stop": ["a", "", "b"])")).stop == strings{"a", "b"});
  CHECK(ok(gen(R"("stop": "")")).stop.empty());
  CHECK(ok(gen(R"("stop": [])")).stop.empty());
  CHECK(ok(gen(R"("stop": null)")).stop.empty());
  check_rejected(gen(R"("stop": ["a", "b", "c", "d", "e"])"), "stop",
                 "too many stop strings: at most 4 are allowed (got 5)");
  check_rejected(gen(R"("stop": ["a", 1])"), "stop", "stop[1] must be a string (got 1)");
  check_rejected(gen(R"("stop": ["a", null])"), "stop", "stop[1] must be a string");
  check_rejected(gen(R"("stop": 5)"), "stop", "stop must be a string or an array of strings");
  check_rejected(gen(R"("stop": {"a": 1})"), "stop", "stop must be a string or an array");
}

TEST_CASE("generate: null means absent and unknown fields are ignored", "[proto]") {
  const generate_request r = ok(gen(R"("max_tokens": null, "temperature": null, "top_k": null,
      "top_p": null, "min_p": null, "repeat_penalty": null, "repeat_last_n": null,
      "presence_penalty": null, "frequency_penalty": null, "stop": null, "stream": null,
      "n_probs": 5, "cache_prompt": true, "mirostat_tau": {"deep": [1, {"x": null}]}, "": 0)"));
  CHECK_FALSE(r.max_tokens.has_value());
  CHECK(r.sampling.temperature == 0.8f);
  CHECK(r.sampling.top_k == 40);
  CHECK(r.sampling.top_p == 0.95f);
  CHECK(r.sampling.min_p == 0.05f);
  CHECK(r.sampling.repeat_last_n == 64);
  CHECK_FALSE(r.stream);
}

TEST_CASE("tokenize: content required, flags default to false", "[proto]") {
  const tokenize_request r = ok(parse_tokenize(R"({"content": "Hello"})"));
  CHECK(r.content == "Hello");
  CHECK_FALSE(r.add_special);
  CHECK_FALSE(r.parse_special);
  const tokenize_request s =
      ok(parse_tokenize(R"({"content": "", "add_special": true, "parse_special": true})"));
  CHECK(s.content.empty());
  CHECK(s.add_special);
  CHECK(s.parse_special);
  check_rejected(parse_tokenize(R"({})"), "content", "content (a string) is required");
  check_rejected(parse_tokenize(R"({"content": null})"), "content", "is required");
  check_rejected(parse_tokenize(R"({"content": 1})"), "content", "content must be a string");
  check_rejected(parse_tokenize(R"({"content": "a", "add_special": "yes"})"), "add_special",
                 "add_special must be a boolean");
  check_rejected(parse_tokenize(R"({"content": "a", "parse_special": 0})"), "parse_special",
                 "parse_special must be a boolean");
  CHECK(tokenize_response({1, 15043}) == nlohmann::json::parse(R"({"tokens": [1, 15043]})"));
  CHECK(tokenize_response({}) == nlohmann::json::parse(R"({"tokens": []})"));
}

TEST_CASE("detokenize: ids checked, empty allowed", "[proto]") {
  CHECK(ok(parse_detokenize(R"({"tokens": [1, 2]})", generate_lim)).tokens == std::vector<int32_t>{1, 2});
  CHECK(ok(parse_detokenize(R"({"tokens": []})", generate_lim)).tokens.empty());
  check_rejected(parse_detokenize(R"({})", generate_lim), "tokens", "tokens (an array of token ids) is required");
  check_rejected(parse_detokenize(R"({"tokens": [600]})", generate_lim), "tokens",
                 "tokens[0] must be a token id in [0, 512) (got 600)");
  check_rejected(parse_detokenize(R"({"tokens": 5})", generate_lim), "tokens", "must be an array of token ids");
  CHECK(detokenize_response("Hi there") == nlohmann::json::parse(R"({"content": "Hi there"})"));
}

// context_overflow: the field on every API, and the two cuts truncate_middle makes.
#include <catch2/catch.hpp>

#include <numeric>

#include "proto/anthropic_api.h"
#include "proto/context_overflow.h"
#include "proto/native_api.h"
#include "proto/openai_api.h"
#include "proto/responses_api.h"
#include "proto_test_util.h"

using namespace hearth::proto;
using namespace hearth::proto::test;

namespace {

std::vector<std::string> roles(const std::vector<chat_message>& m) {
  std::vector<std::string> out;
  for (const auto& x : m) out.push_back(x.role + ":" + x.content);
  return out;
}

}  // namespace

TEST_CASE("context_overflow: drop_oldest_turn keeps the system prompt and the newest turn", "[proto][overflow]") {
  std::vector<chat_message> m = {{"system", "S"},      {"user", "u1"}, {"assistant", "a1"}, {"user", "u2"},
                                 {"assistant", "a2"}, {"tool", "t2"}, {"assistant", "a2b"}, {"user", "u3"}};
  REQUIRE(drop_oldest_turn(m));
  CHECK(roles(m) == std::vector<std::string>{"system:S", "user:u2", "assistant:a2", "tool:t2", "assistant:a2b", "user:u3"});
  REQUIRE(drop_oldest_turn(m));  // the whole turn: the answer, the tool result, the next answer
  CHECK(roles(m) == std::vector<std::string>{"system:S", "user:u3"});
  CHECK_FALSE(drop_oldest_turn(m));
  CHECK(roles(m) == std::vector<std::string>{"system:S", "user:u3"});
  // Nothing after the newest user message is ever dropped; an opening answer goes alone.
  std::vector<chat_message> n = {{"developer", "D"}, {"assistant", "hello"}, {"user", "u1"}, {"assistant", "partial"}};
  REQUIRE(drop_oldest_turn(n));
  CHECK(roles(n) == std::vector<std::string>{"developer:D", "user:u1", "assistant:partial"});
  CHECK_FALSE(drop_oldest_turn(n));
  std::vector<chat_message> none = {{"system", "S"}};
  CHECK_FALSE(drop_oldest_turn(none));
}

TEST_CASE("context_overflow: truncate_middle keeps a quarter of the room from the start, the rest from the end",
          "[proto][overflow]") {
  std::vector<int32_t> p(100);
  std::iota(p.begin(), p.end(), 0);
  std::vector<int32_t> q = p;
  CHECK(truncate_middle(q, 100) == 0);
  CHECK(q == p);
  CHECK(truncate_middle(q, 40) == 60);
  std::vector<int32_t> want;
  for (int i = 0; i < 10; ++i) want.push_back(i);    // 40 / 4 from the start
  for (int i = 70; i < 100; ++i) want.push_back(i);  // 30 from the end
  CHECK(q == want);
}

TEST_CASE("context_overflow: every API reads it, the server's default applies, rolling lifts the max_tokens cap",
          "[proto][overflow]") {
  limits lim{512, 1024};
  CHECK(ok(parse_generate(R"({"prompt": "x"})", lim)).overflow == context_overflow::error);
  CHECK(ok(parse_generate(R"({"prompt": "x", "context_overflow": "truncate_middle"})", lim)).overflow ==
        context_overflow::truncate_middle);
  CHECK(ok(parse_completion(R"({"prompt": "x", "context_overflow": "rolling", "max_tokens": 5000})", lim)).overflow ==
        context_overflow::rolling);
  CHECK(ok(parse_chat(R"({"messages": [{"role": "user", "content": "x"}], "context_overflow": "rolling",
                          "max_completion_tokens": 5000})", lim)).max_tokens == 5000);
  CHECK(ok(parse_messages(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 9,
                              "context_overflow": "truncate_middle"})", lim)).overflow == context_overflow::truncate_middle);
  CHECK(ok(parse_responses(R"({"input": "x", "context_overflow": "rolling", "max_output_tokens": 4096})", lim)).overflow ==
        context_overflow::rolling);
  // Not rolling: max_tokens stays within the context.
  check_rejected(parse_completion(R"({"prompt": "x", "context_overflow": "truncate_middle", "max_tokens": 5000})", lim),
                 "max_tokens", "max_tokens must be <= 1024");
  check_rejected(parse_generate(R"({"prompt": "x", "context_overflow": "sideways"})", lim), "context_overflow",
                 "context_overflow must be \"error\", \"truncate_middle\" or \"rolling\" (got \"sideways\")");
  check_rejected(parse_generate(R"({"prompt": "x", "context_overflow": 1})", lim), "context_overflow", "");
  // The server's default, and a request that overrides it.
  lim.overflow = context_overflow::rolling;
  CHECK(ok(parse_generate(R"({"prompt": "x", "max_tokens": 4000})", lim)).overflow == context_overflow::rolling);
  check_rejected(parse_generate(R"({"prompt": "x", "max_tokens": 4000, "context_overflow": "error"})", lim), "max_tokens",
                 "max_tokens must be <= 1024");
}

// Speculative decoding at the API layer: the "speculative" request field on every generation API
// (object and string forms, the server's default, the 400s), and the usage each API reports when
// tokens were drafted. Expected JSON is written out by hand from the field definitions.
#include <catch2/catch.hpp>

#include <string>
#include <variant>

#include "proto/anthropic_api.h"
#include "proto/generation_json.h"
#include "proto/native_api.h"
#include "proto/openai_api.h"
#include "proto/responses_api.h"
#include "proto/ws_api.h"
#include "proto_test_util.h"

using namespace hearth::proto;
using namespace hearth::proto::test;
using nlohmann::json;

namespace {

const limits spec_lim{512, 1024};

// /v1/generate with `field` ("speculative": ...) added.
result<generate_request> spec_generate(const std::string& field, const limits& lim = spec_lim) {
  return parse_generate(R"({"prompt": "x", )" + field + "}", lim);
}

bool spec_equal(const speculative_settings& s, speculative_mode mode, int32_t max_tokens) {
  INFO("mode " << to_string(s.mode) << ", max_tokens " << s.max_tokens);
  return s.mode == mode && s.max_tokens == max_tokens;
}

// 10 drafted, 7 of them accepted, in an answer of 12 tokens to a 5-token prompt.
const usage spec_usage{.prompt_tokens = 5, .completion_tokens = 12, .drafted_tokens = 10, .accepted_tokens = 7};

}  // namespace

TEST_CASE("speculative: every generation API reads it, as an object or a mode name", "[proto][speculative]") {
  using m = speculative_mode;
  CHECK(spec_equal(ok(spec_generate(R"("speculative": {"mode": "ngram", "max_tokens": 4})")).speculative, m::ngram, 4));
  CHECK(spec_equal(ok(spec_generate(R"("speculative": "ngram")")).speculative, m::ngram, 8));
  CHECK(spec_equal(ok(spec_generate(R"("speculative": {"mode": "off"})")).speculative, m::off, 8));
  CHECK(spec_equal(ok(spec_generate(R"("speculative": {"max_tokens": 16})")).speculative, m::off, 16));
  CHECK(spec_equal(ok(spec_generate(R"("speculative": {"max_tokens": 1.0})")).speculative, m::off, 1));
  CHECK(spec_equal(ok(spec_generate(R"("speculative": {})")).speculative, m::off, 8));
  CHECK(spec_equal(ok(spec_generate(R"("speculative": null)")).speculative, m::off, 8));
  CHECK(spec_equal(ok(parse_generate(R"({"prompt": "x"})", spec_lim)).speculative, m::off, 8));

  CHECK(spec_equal(ok(parse_completion(R"({"prompt": "x", "speculative": "ngram"})", spec_lim)).speculative, m::ngram, 8));
  CHECK(spec_equal(ok(parse_chat(R"({"messages": [{"role": "user", "content": "x"}],
                                     "speculative": {"mode": "ngram", "max_tokens": 3}})", spec_lim)).speculative,
                   m::ngram, 3));
  CHECK(spec_equal(ok(parse_messages(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 9,
                                         "speculative": {"mode": "ngram", "max_tokens": 5}})", spec_lim)).speculative,
                   m::ngram, 5));
  CHECK(spec_equal(ok(parse_responses(R"({"input": "x", "speculative": {"max_tokens": 2}})", spec_lim)).speculative,
                   m::off, 2));
  const ws_message w = parse_ws_message(R"({"type": "generate", "id": "a", "prompt": "x", "speculative": "ngram"})", spec_lim);
  REQUIRE(std::holds_alternative<ws_generate>(w));
  CHECK(spec_equal(std::get<ws_generate>(w).request.speculative, m::ngram, 8));
}

TEST_CASE("speculative: what a request leaves out is the server's default", "[proto][speculative]") {
  using m = speculative_mode;
  limits lim = spec_lim;
  lim.speculative = {m::ngram, 5};
  CHECK(spec_equal(ok(parse_generate(R"({"prompt": "x"})", lim)).speculative, m::ngram, 5));
  CHECK(spec_equal(ok(spec_generate(R"("speculative": {"max_tokens": 2})", lim)).speculative, m::ngram, 2));
  CHECK(spec_equal(ok(spec_generate(R"("speculative": "off")", lim)).speculative, m::off, 5));
  CHECK(spec_equal(ok(spec_generate(R"("speculative": {"mode": "off", "max_tokens": 12})", lim)).speculative, m::off, 12));
  CHECK(spec_equal(ok(parse_chat(R"({"messages": [{"role": "user", "content": "x"}]})", lim)).speculative, m::ngram, 5));
  CHECK(spec_equal(ok(parse_responses(R"({"input": "x"})", lim)).speculative, m::ngram, 5));
}

TEST_CASE("speculative: a bad value is a 400 naming the field", "[proto][speculative]") {
  check_rejected(spec_generate(R"("speculative": {"mode": "fast"})"), "speculative.mode",
                 R"(speculative.mode must be "off", "ngram" or "draft" (got "fast"))");
  check_rejected(spec_generate(R"("speculative": {"mode": "NGRAM"})"), "speculative.mode", R"((got "NGRAM"))");
  check_rejected(spec_generate(R"("speculative": "fast")"), "speculative",
                 R"(speculative must be "off", "ngram" or "draft", or an object {"mode", "max_tokens"} (got "fast"))");
  check_rejected(spec_generate(R"("speculative": "")"), "speculative", R"((got ""))");
  check_rejected(spec_generate(R"("speculative": {"max_tokens": 0})"), "speculative.max_tokens",
                 "speculative.max_tokens must be an integer from 1 to 16 (got 0)");
  check_rejected(spec_generate(R"("speculative": {"max_tokens": 17})"), "speculative.max_tokens",
                 "speculative.max_tokens must be an integer from 1 to 16 (got 17)");
  check_rejected(spec_generate(R"("speculative": {"max_tokens": -1})"), "speculative.max_tokens", "(got -1)");
  check_rejected(spec_generate(R"("speculative": {"max_tokens": 4294967296})"), "speculative.max_tokens",
                 "speculative.max_tokens is out of range");
  check_rejected(spec_generate(R"("speculative": {"max_tokens": "4"})"), "speculative.max_tokens",
                 "speculative.max_tokens must be an integer");
  check_rejected(spec_generate(R"("speculative": {"max_tokens": 2.5})"), "speculative.max_tokens",
                 "speculative.max_tokens must be an integer");
  check_rejected(spec_generate(R"("speculative": {"mode": 1})"), "speculative.mode", "speculative.mode must be a string");
  // A misspelt key is named, not ignored (the server's default would silently stand).
  check_rejected(spec_generate(R"("speculative": {"mode": "ngram", "max_token": 4})"), "speculative.max_token",
                 R"(speculative has no field "max_token" (its fields are "mode" and "max_tokens"))");
  check_rejected(spec_generate(R"("speculative": {"mdoe": "off"})"), "speculative.mdoe", R"(no field "mdoe")");
  check_rejected(spec_generate(R"("speculative": 3)"), "speculative",
                 R"(speculative must be a string (the mode) or an object {"mode", "max_tokens"} (got 3))");
  check_rejected(spec_generate(R"("speculative": true)"), "speculative", "(got true)");
  check_rejected(spec_generate(R"("speculative": ["ngram"])"), "speculative", "must be a string (the mode) or an object");
  // The same reader behind every API.
  check_rejected(parse_completion(R"({"prompt": "x", "speculative": {"max_tokens": 17}})", spec_lim),
                 "speculative.max_tokens", "from 1 to 16");
  check_rejected(parse_chat(R"({"messages": [{"role": "user", "content": "x"}], "speculative": "fast"})", spec_lim),
                 "speculative", R"((got "fast"))");
  check_rejected(parse_messages(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 9,
                                    "speculative": {"mode": "x"}})", spec_lim),
                 "speculative.mode", "speculative.mode must be");
  check_rejected(parse_responses(R"({"input": "x", "speculative": 1})", spec_lim), "speculative", "(got 1)");
  const ws_message w = parse_ws_message(R"({"type": "generate", "id": "a", "prompt": "x",
                                            "speculative": {"max_tokens": 0}})", spec_lim);
  REQUIRE(std::holds_alternative<ws_error>(w));
  CHECK(std::get<ws_error>(w).id == "a");
  check_bad_request(std::get<ws_error>(w).error, "speculative.max_tokens", "from 1 to 16 (got 0)");
}

TEST_CASE("speculative: mode draft needs a draft model, asked for by the request or the default", "[proto][speculative]") {
  const std::string message =
      R"(speculative mode "draft" needs a draft model: the server was started without --draft-model)";
  for (const char* field : {R"("speculative": "draft")", R"("speculative": {"mode": "draft"})",
                            R"("speculative": {"mode": "draft", "max_tokens": 4})"}) {
    INFO(field);
    const api_error e = err(spec_generate(field));
    check_bad_request(e, "speculative", message);
    CHECK(e.message == message);
    CHECK(to_json(e) == json{{"error", {{"message", message}, {"type", "invalid_request_error"},
                                        {"param", "speculative"}, {"code", nullptr}}}});
  }
  check_rejected(parse_chat(R"({"messages": [{"role": "user", "content": "x"}], "speculative": "draft"})", spec_lim),
                 "speculative", message);

  limits with_model = spec_lim;
  with_model.draft_model = true;
  CHECK(spec_equal(ok(spec_generate(R"("speculative": "draft")", with_model)).speculative, speculative_mode::draft, 8));

  // A server default of draft without a model (the server refuses to start so; the reader holds
  // anyway): requests that keep it are refused, those that choose another mode pass.
  limits draft_default = spec_lim;
  draft_default.speculative = {speculative_mode::draft, 6};
  check_rejected(parse_generate(R"({"prompt": "x"})", draft_default), "speculative", message);
  check_rejected(spec_generate(R"("speculative": {"max_tokens": 2})", draft_default), "speculative", message);
  CHECK(spec_equal(ok(spec_generate(R"("speculative": "ngram")", draft_default)).speculative, speculative_mode::ngram, 6));
}

TEST_CASE("speculative: usage has the prediction counts only when tokens were drafted", "[proto][speculative]") {
  const usage plain{5, 12};
  CHECK(to_json(plain) == json::parse(R"({"prompt_tokens": 5, "completion_tokens": 12, "total_tokens": 17})"));
  const usage none_accepted{.prompt_tokens = 5, .completion_tokens = 12, .drafted_tokens = 4, .accepted_tokens = 0};
  CHECK(to_json(none_accepted) == json::parse(R"({"prompt_tokens": 5, "completion_tokens": 12, "total_tokens": 17,
      "completion_tokens_details": {"accepted_prediction_tokens": 0, "rejected_prediction_tokens": 4},
      "speculative": {"drafted_tokens": 4, "accepted_tokens": 0}})"));
  const json want = json::parse(R"({"prompt_tokens": 5, "completion_tokens": 12, "total_tokens": 17,
      "completion_tokens_details": {"accepted_prediction_tokens": 7, "rejected_prediction_tokens": 3},
      "speculative": {"drafted_tokens": 10, "accepted_tokens": 7}})");
  CHECK(to_json(spec_usage) == want);
  // Beside the prompt's details.
  usage cached = spec_usage;
  cached.cached_tokens = 3;
  CHECK(to_json(cached)["prompt_tokens_details"] == json::parse(R"({"cached_tokens": 3})"));
  CHECK(to_json(cached)["completion_tokens_details"] == want["completion_tokens_details"]);

  // Every API that reports to_json(usage): OpenAI's, native, WebSocket.
  CHECK(chat_response("c", 1, "m", "Hi", finish_reason::stop, spec_usage)["usage"] == want);
  CHECK(completion_response("c", 1, "m", "Hi", finish_reason::stop, spec_usage)["usage"] == want);
  CHECK(chat_usage_chunk("c", 1, "m", spec_usage)["usage"] == want);
  CHECK(completion_usage_chunk("c", 1, "m", spec_usage)["usage"] == want);
  CHECK(generate_response("Hi", {1}, finish_reason::stop, spec_usage, timings{})["usage"] == want);
  CHECK(generate_final_event(finish_reason::stop, spec_usage, timings{})["usage"] == want);
  CHECK(ws_done_event("a", finish_reason::stop, spec_usage, timings{})["usage"] == want);
  CHECK_FALSE(ws_done_event("a", finish_reason::stop, plain, timings{})["usage"].contains("speculative"));
}

TEST_CASE("speculative: Responses and Anthropic usage", "[proto][speculative]") {
  const json echo = json::object();
  const responses_output drafted{"", "Hi", {}, finish_reason::stop, spec_usage};
  CHECK(response_object("resp_1", 1, "m", echo, &drafted)["usage"] == json::parse(R"({
      "input_tokens": 5, "input_tokens_details": {"cached_tokens": 0},
      "output_tokens": 12,
      "output_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 7, "rejected_prediction_tokens": 3},
      "total_tokens": 17, "speculative": {"drafted_tokens": 10, "accepted_tokens": 7}})"));
  const responses_output plain{"", "Hi", {}, finish_reason::stop, {5, 12}};
  CHECK(response_object("resp_1", 1, "m", echo, &plain)["usage"] == json::parse(R"({
      "input_tokens": 5, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 12,
      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 17})"));

  CHECK(messages_response("msg_1", "m", "", "Hi", {}, finish_reason::stop, "", spec_usage)["usage"] ==
        json::parse(R"({"input_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                        "output_tokens": 12, "speculative": {"drafted_tokens": 10, "accepted_tokens": 7}})"));
  CHECK_FALSE(messages_response("msg_1", "m", "", "Hi", {}, finish_reason::stop, "", usage{5, 12})["usage"].contains(
      "speculative"));
  CHECK(message_delta_event("end_turn", "", spec_usage)["usage"] ==
        json::parse(R"({"input_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                        "output_tokens": 12, "speculative": {"drafted_tokens": 10, "accepted_tokens": 7}})"));
  CHECK_FALSE(message_delta_event("end_turn", "", usage{5, 12})["usage"].contains("speculative"));
}

TEST_CASE("speculative: usage_from_json reads back what to_json wrote", "[proto][speculative]") {
  const usage u{.prompt_tokens = 9, .completion_tokens = 20, .drafted_tokens = 14, .accepted_tokens = 11,
                .cached_tokens = 4, .truncated_tokens = 2};
  const usage back = usage_from_json(to_json(u));
  CHECK(back.prompt_tokens == 9);
  CHECK(back.completion_tokens == 20);
  CHECK(back.drafted_tokens == 14);
  CHECK(back.accepted_tokens == 11);
  CHECK(back.cached_tokens == 4);
  CHECK(back.truncated_tokens == 2);
  const usage empty = usage_from_json(json::parse(R"({"prompt_tokens": 3})"));
  CHECK(empty.prompt_tokens == 3);
  CHECK(empty.completion_tokens == 0);
  CHECK(empty.drafted_tokens == 0);
  CHECK(usage_from_json(json()).prompt_tokens == 0);
}

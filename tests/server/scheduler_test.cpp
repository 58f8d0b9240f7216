// The scheduler's per-request behaviour over the fake engine: tokens, the text pipeline, finish
// reasons, usage, refusals and metrics.
#include <catch2/catch.hpp>

#include "metrics.h"
#include "scheduler_test_util.h"

using namespace hearth;
using namespace hearth::test;

namespace {

using fr = proto::finish_reason;

// Scripted continuations (ids: see fake_engine.h).
const std::vector<token_id> hello_prompt = {1, 2, 3};
const std::vector<token_id> hello_world = {28, 29, 30, 31};  // "He" "llo" " world" "!"
const std::vector<token_id> eog_prompt = {4, 5};
const std::vector<token_id> eog_script = {28, 29, fake_engine::eog, 31};
const std::vector<token_id> utf8_prompt = {6};
const std::vector<token_id> utf8_script = {35, 36, 27, 37, 38, 39, 40, 41};  // é, ' ', €, 🙂, é
const std::vector<token_id> cut_prompt = {7};
const std::vector<token_id> cut_script = {28, 35};  // "He", then the first byte of é

std::vector<fake_engine::script> scripts() {
  return {{hello_prompt, hello_world}, {eog_prompt, eog_script}, {utf8_prompt, utf8_script}, {cut_prompt, cut_script}};
}

}  // namespace

TEST_CASE("scheduler: one request gets the scripted tokens and text, finishing at max_tokens") {
  fake_fixture f({}, {}, scripts());
  sink_record r = f.submit(greedy_request(hello_prompt, 4))->wait_finish();
  CHECK(r.tokens == hello_world);
  CHECK(r.pieces == std::vector<std::string>{"He", "llo", " world", "!"});
  CHECK(r.text == "Hello world!");
  CHECK(r.finish.reason == fr::length);
  CHECK(r.finish.text.empty());
  CHECK(r.finish.error.empty());
  CHECK(r.finish.usage.prompt_tokens == 3);
  CHECK(r.finish.usage.completion_tokens == 4);
  CHECK(r.finish.timings.queue_ms >= 0);
  CHECK(r.finish.timings.prompt_ms >= 0);
  CHECK(r.finish.timings.predicted_ms >= 0);
  // Rates follow their definitions (a duration of 0 gives a rate of 0, never a division by 0).
  const proto::timings& t = r.finish.timings;
  CHECK(t.prompt_per_second == (t.prompt_ms > 0 ? Approx(3 * 1000.0 / t.prompt_ms) : Approx(0)));
  CHECK(t.predicted_per_second == (t.predicted_ms > 0 ? Approx(3 * 1000.0 / t.predicted_ms) : Approx(0)));
  // The KV cache received the prompt and every generated token but the last, in order.
  auto l = f.fake->lifetime_of(hello_prompt);
  REQUIRE(l);
  CHECK(f.fake->lifetimes()[*l].history == std::vector<token_id>{1, 2, 3, 28, 29, 30});
  f.check_clean();
  f.sch.shutdown();
  CHECK(f.sch.stats().steps == static_cast<int64_t>(f.fake->batch_log().size()));
  CHECK(f.sch.stats().running == 0);
  CHECK(r.finishes == 1);
}

TEST_CASE("scheduler: a prompt longer than the batch is prefilled in chunks, then decoded") {
  // 21 prompt tokens through batches of 8 rows: 3 prefill steps, the last one with logits.
  fake_fixture f({.max_batch = 8, .max_logit_rows = 2});
  std::vector<token_id> prompt;
  for (int i = 0; i < 21; ++i) prompt.push_back(1 + (i * 5) % 34);
  sink_record r = f.submit(greedy_request(prompt, 30))->wait_finish();
  const std::vector<token_id> expected = f.fake->greedy(prompt, 30);
  REQUIRE(expected.size() == 30);  // the hash never draws EOG
  CHECK(r.tokens == expected);
  CHECK(r.text == text_of(expected));
  CHECK(r.finish.reason == fr::length);
  CHECK(r.finish.usage.prompt_tokens == 21);
  CHECK(r.finish.usage.completion_tokens == 30);
  // 3 prefill passes + 29 decode passes.
  CHECK(f.fake->batch_log().size() == 32);
  CHECK(f.fake->max_rows_seen() == 8);
  f.check_clean();
}

TEST_CASE("scheduler: the end-of-generation token finishes with stop and is never shown") {
  fake_fixture f({}, {}, scripts());
  sink_record r = f.submit(greedy_request(eog_prompt, 10))->wait_finish();
  CHECK(r.tokens == std::vector<token_id>{28, 29});
  CHECK(r.text == "Hello");
  CHECK(r.finish.reason == fr::stop);
  // The EOG token was sampled: it counts, as in llama.cpp and vLLM.
  CHECK(r.finish.usage.completion_tokens == 3);
  f.check_clean();
}

TEST_CASE("scheduler: a stop string across token boundaries finishes with stop and is never emitted") {
  fake_fixture f({}, {}, scripts());
  // "lo wor" spans "llo" and " world".
  sink_record r = f.submit(greedy_request(hello_prompt, 10, {"lo wor"}))->wait_finish();
  CHECK(r.tokens == std::vector<token_id>{28, 29, 30});
  CHECK(r.finish.reason == fr::stop);
  CHECK(r.text == "Hel");
  CHECK(r.finish.text.empty());
  for (const std::string& p : r.pieces) CHECK(p.find('w') == std::string::npos);
  CHECK(r.finish.usage.completion_tokens == 3);
  f.check_clean();
}

TEST_CASE("scheduler: held-back text is released when the request ends without a match") {
  fake_fixture f({}, {}, scripts());
  SECTION("a possible start of a stop string") {
    // "!" could start "!?": held at the token, released at the length finish.
    sink_record r = f.submit(greedy_request(hello_prompt, 4, {"!?"}))->wait_finish();
    CHECK(r.pieces == std::vector<std::string>{"He", "llo", " world", ""});
    CHECK(r.finish.reason == fr::length);
    CHECK(r.finish.text == "!");
    CHECK(r.text == "Hello world!");
  }
  SECTION("an incomplete UTF-8 character becomes U+FFFD") {
    sink_record r = f.submit(greedy_request(cut_prompt, 2))->wait_finish();
    CHECK(r.pieces == std::vector<std::string>{"He", ""});
    CHECK(r.finish.text == "\xEF\xBF\xBD");
  }
  f.check_clean();
}

TEST_CASE("scheduler: UTF-8 characters split across tokens arrive whole") {
  fake_fixture f({}, {}, scripts());
  sink_record r = f.submit(greedy_request(utf8_prompt, 8))->wait_finish();
  CHECK(r.tokens == utf8_script);
  CHECK(r.pieces == std::vector<std::string>{"", "\xC3\xA9", " ", "", "\xE2\x82\xAC", "", "\xF0\x9F\x99\x82",
                                             "\xC3\xA9"});
  CHECK(r.text == "\xC3\xA9 \xE2\x82\xAC\xF0\x9F\x99\x82\xC3\xA9");
  CHECK(r.finish.reason == fr::length);
  f.check_clean();
}

TEST_CASE("scheduler: each sequence's sampler sees its prompt and its own tokens") {
  // The fake favours "He" (28) after {28, 29} and again after {28, 29, 28}. A repeat penalty of
  // 100 cuts its logit from 4 to 0.04, below the other plain tokens, but only if the sampler was
  // given the prompt (first token) and the generated tokens (second token).
  const std::vector<token_id> prompt = {28, 29}, again = {30, 30};
  fake_fixture f({}, {}, {{prompt, {28, 28}}, {again, {31, 31}}});
  generation_request plain = greedy_request(prompt, 2);
  CHECK(f.submit(plain)->wait_finish().tokens == std::vector<token_id>{28, 28});
  generation_request penalized = greedy_request(prompt, 2);
  penalized.sampling.repeat_penalty = 100.0f;
  const std::vector<token_id> first = f.submit(penalized)->wait_finish().tokens;
  REQUIRE(first.size() == 2);
  CHECK(first[0] != 28);
  CHECK(first[0] != 29);
  generation_request scripted = greedy_request(again, 2);
  scripted.sampling.repeat_penalty = 100.0f;
  const std::vector<token_id> second = f.submit(scripted)->wait_finish().tokens;
  REQUIRE(second.size() == 2);
  CHECK(second[0] == 31);  // not in the prompt: chosen as scripted
  CHECK(second[1] != 31);  // generated just before: penalized
  f.check_clean();
}

TEST_CASE("scheduler: requests that could never run are refused as too_long, others accepted") {
  // 64 positions of context; 12 blocks of 4 = 48 positions of KV pool.
  fake_fixture f({.context_length = 64, .block_size = 4, .total_blocks = 12});
  auto refused = std::make_shared<recording_sink>();
  auto submit = [&](generation_request r) { return f.sch.submit(std::move(r), refused); };
  CHECK(submit(greedy_request({1, 2, 3, 4}, 45)) == submit_status::too_long);  // 49 > 48 positions
  CHECK(submit(greedy_request({1, 2, 3, 4}, 61)) == submit_status::too_long);  // 65 > 64 context
  CHECK(submit(greedy_request({}, 4)) == submit_status::too_long);
  CHECK(submit(greedy_request({1}, 0)) == submit_status::too_long);
  CHECK(f.sch.submit(greedy_request({1}, 4), nullptr) == submit_status::too_long);
  // Exactly the whole pool fits.
  sink_record r = f.submit(greedy_request({1, 2, 3, 4}, 44))->wait_finish();
  CHECK(r.finish.reason == fr::length);
  CHECK(r.tokens == f.fake->greedy({1, 2, 3, 4}, 44));
  f.sch.shutdown();
  CHECK(refused->snapshot().finishes == 0);
  CHECK(refused->snapshot().tokens.empty());
  f.check_clean();
}

TEST_CASE("scheduler: invalid request content is accepted and finishes with an error") {
  fake_fixture f;
  auto bad_token = f.submit(greedy_request({1, fake_engine::n_vocab}, 4));
  generation_request bad_sampling = greedy_request({1, 2}, 4);
  bad_sampling.sampling.top_p = 1.5f;
  auto bad_top_p = f.submit(bad_sampling);
  auto bad_stop = f.submit(greedy_request({1, 3}, 4, {"\xFF"}));
  auto good = f.submit(greedy_request({1, 4}, 4));
  sink_record a = bad_token->wait_finish(), b = bad_top_p->wait_finish(), c = bad_stop->wait_finish();
  for (const sink_record* r : {&a, &b, &c}) {
    CHECK(r->finish.reason == fr::error);
    CHECK(r->tokens.empty());
  }
  CHECK(a.finish.error.find("vocabulary") != std::string::npos);
  CHECK(b.finish.error.find("top_p") != std::string::npos);
  CHECK(c.finish.error.find("stop") != std::string::npos);
  CHECK(good->wait_finish().tokens == f.fake->greedy({1, 4}, 4));
  CHECK(f.fake->lifetimes().size() == 1);  // only the good one reached the engine
  f.check_clean();
}

TEST_CASE("scheduler: metrics count tokens, finishes and latencies") {
  metrics m;
  fake_fixture f({}, {}, scripts(), &m);
  f.submit(greedy_request(hello_prompt, 4))->wait_finish();
  f.submit(greedy_request(eog_prompt, 10))->wait_finish();
  f.sch.shutdown();
  const std::string out = m.render(f.sch.stats());
  CHECK(out.find("hearth_generations_total{reason=\"length\"} 1\n") != std::string::npos);
  CHECK(out.find("hearth_generations_total{reason=\"stop\"} 1\n") != std::string::npos);
  CHECK(out.find("hearth_prompt_tokens_total 5\n") != std::string::npos);
  CHECK(out.find("hearth_generated_tokens_total 7\n") != std::string::npos);  // 4 + 3 (EOG included)
  CHECK(out.find("hearth_time_to_first_token_seconds_count 2\n") != std::string::npos);
  CHECK(out.find("hearth_inter_token_latency_seconds_count 5\n") != std::string::npos);  // 3 + 2
  CHECK(out.find("hearth_running_sequences 0\n") != std::string::npos);
  CHECK(out.find("hearth_kv_blocks_used 0\n") != std::string::npos);
}

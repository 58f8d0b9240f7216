// Speculative decoding in the scheduler (prompt lookup drafts, verified in the batch): a request's
// tokens are the same with and without it, at temperature 0 and with a seeded sampler; text that
// loops takes fewer forward passes; drafts stay within max_tokens, the context and the rows other
// sequences need; rejected positions are dropped. Expected tokens come from the fake engine's
// definition (greedy) or from the same request run without speculation.
#include <catch2/catch.hpp>

#include "scheduler_test_util.h"
#include "sequence.h"

using namespace hearth;
using namespace hearth::test;

namespace {

generation_request speculative(generation_request r, int32_t max_draft = 8) {
  r.speculative = {proto::speculative_mode::ngram, max_draft};
  return r;
}

// A prompt that ends in the middle of its own loop, and a script that goes on looping: prompt
// lookup drafts the loop, and the fake's greedy token agrees.
const std::vector<token_id> loop_prompt = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3};
std::vector<token_id> loop_continuation(size_t n) {
  std::vector<token_id> c;
  for (size_t i = 0; i < n; ++i) c.push_back(static_cast<token_id>(1 + (i + 3) % 8));
  return c;
}

struct run_result {
  sink_record record;
  size_t forward_calls = 0;
};

run_result run(const generation_request& r, std::vector<fake_engine::script> scripts = {},
               fake_engine_options o = {}) {
  fake_fixture f(o, {}, std::move(scripts));
  run_result out{f.submit(r)->wait_finish(), 0};
  out.forward_calls = f.fake->batch_log().size();

  f.check_clean();
  return out;
}

}  // namespace

TEST_CASE("speculative: a looping continuation is drafted, verified and takes fewer passes", "[scheduler][speculative]") {
  const std::vector<fake_engine::script> scripts = {{loop_prompt, loop_continuation(64)}};
  const fake_engine expect({}, scripts);
  const generation_request r = greedy_request(loop_prompt, 40);

  const run_result plain = run(r, scripts);
  const run_result spec = run(speculative(r), scripts);
  CHECK(plain.record.tokens == expect.greedy(loop_prompt, 40));
  CHECK(spec.record.tokens == plain.record.tokens);
  CHECK(spec.record.finish.reason == proto::finish_reason::length);
  CHECK(spec.record.finish.usage.completion_tokens == 40);
  CHECK(plain.record.finish.usage.drafted_tokens == 0);
  // One pass per token without (the prompt's pass gives the first); with drafts of up to 8
  // accepted, several tokens a pass once the draft length has grown.
  CHECK(plain.forward_calls == 40);
  CHECK(spec.forward_calls <= 12);
  const proto::usage& u = spec.record.finish.usage;
  CHECK(u.accepted_tokens >= 30);
  CHECK(u.accepted_tokens <= u.drafted_tokens);
  // Every token but the pass's own came from an accepted draft.
  CHECK(u.accepted_tokens == 40 - static_cast<int32_t>(spec.forward_calls));
}

TEST_CASE("speculative: rejected drafts leave the tokens unchanged, greedy and sampled", "[scheduler][speculative]") {
  // The prompt repeats "5 6 7", so "... 5 6" keeps drafting "7 5 6 ..." while the fake's own
  // (hashed) tokens go elsewhere.
  const std::vector<token_id> prompt = {5, 6, 7, 5, 6, 7, 5, 6, 7, 5, 6};
  int32_t drafted = 0, accepted = 0;
  for (float temperature : {0.0f, 0.7f, 1.5f}) {
    for (uint64_t seed : {1u, 77u, 4242u}) {
      generation_request r = greedy_request(prompt, 48);
      r.sampling.temperature = temperature;
      r.sampling.seed = seed;
      INFO("temperature " << temperature << ", seed " << seed);
      const run_result plain = run(r);
      const run_result spec = run(speculative(r, 4));
      CHECK(spec.record.tokens == plain.record.tokens);
      CHECK(spec.record.text == plain.record.text);
      CHECK(spec.record.finish.reason == plain.record.finish.reason);
      drafted += spec.record.finish.usage.drafted_tokens;
      accepted += spec.record.finish.usage.accepted_tokens;
      if (temperature == 0.0f) CHECK(plain.record.tokens == fake_engine().greedy(prompt, 48));
    }
  }
  CHECK(drafted > 0);
  CHECK(accepted < drafted);
}

TEST_CASE("speculative: sampled loops give the non-speculative tokens for every seed", "[scheduler][speculative]") {
  // The loop token is the most likely (logit 4, the others 0..2): sampled at temperature 1 it is
  // drawn most of the time, so drafts are often accepted, often not.
  const std::vector<fake_engine::script> scripts = {{loop_prompt, loop_continuation(64)}};
  int32_t accepted = 0, drafted = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    generation_request r = greedy_request(loop_prompt, 32);
    r.sampling.temperature = 1.0f;
    r.sampling.top_k = 0;
    r.sampling.top_p = 1.0f;
    r.sampling.min_p = 0.0f;
    r.sampling.seed = seed;
    INFO("seed " << seed);
    const run_result plain = run(r, scripts);
    const run_result spec = run(speculative(r), scripts);
    CHECK(spec.record.tokens == plain.record.tokens);
    accepted += spec.record.finish.usage.accepted_tokens;
    drafted += spec.record.finish.usage.drafted_tokens;
  }
  CHECK(accepted > 0);
  CHECK(accepted < drafted);
}

TEST_CASE("speculative: an end of generation or a stop string inside an accepted draft ends there", "[scheduler][speculative]") {
  std::vector<token_id> cont = loop_continuation(20);
  cont.push_back(fake_engine::eog);
  const std::vector<fake_engine::script> scripts = {{loop_prompt, cont}};
  const run_result spec = run(speculative(greedy_request(loop_prompt, 100)), scripts);
  CHECK(spec.record.tokens == std::vector<token_id>(cont.begin(), cont.end() - 1));
  CHECK(spec.record.finish.reason == proto::finish_reason::stop);
  CHECK(spec.record.finish.usage.completion_tokens == 21);  // EOG counted

  // "d" (id 4) after "c" stops: a stop string met inside a draft is cut as without drafts.
  const generation_request stopped = greedy_request(loop_prompt, 100, {"ef"});
  const run_result plain_stop = run(stopped, {{loop_prompt, loop_continuation(64)}});
  const run_result spec_stop = run(speculative(stopped), {{loop_prompt, loop_continuation(64)}});
  CHECK(spec_stop.record.text == plain_stop.record.text);
  CHECK(spec_stop.record.tokens == plain_stop.record.tokens);
  CHECK(spec_stop.record.finish.reason == proto::finish_reason::stop);
  CHECK(spec_stop.record.finish.stop_sequence == "ef");
}

TEST_CASE("speculative: drafts stop at max_tokens and the end of the context", "[scheduler][speculative]") {
  const std::vector<fake_engine::script> scripts = {{loop_prompt, loop_continuation(64)}};
  for (int32_t max_tokens : {1, 2, 3, 9, 17}) {
    INFO("max_tokens " << max_tokens);
    const run_result spec = run(speculative(greedy_request(loop_prompt, max_tokens)), scripts);
    CHECK(spec.record.tokens == fake_engine({}, scripts).greedy(loop_prompt, max_tokens));
    CHECK(spec.record.finish.reason == proto::finish_reason::length);
    CHECK(spec.record.finish.usage.drafted_tokens <= std::max(0, max_tokens - 1));
  }
  // A context of 24 positions: 11 prompt + 13 tokens fill it; drafts never go past it.
  fake_engine_options small;
  small.context_length = 24;
  const run_result spec = run(speculative(greedy_request(loop_prompt, 13)), scripts, small);
  CHECK(spec.record.tokens == fake_engine({}, scripts).greedy(loop_prompt, 13));
}

TEST_CASE("speculative: drafts never take rows another sequence's decode row needs", "[scheduler][speculative]") {
  // 4 logit rows a pass, 4 looping sequences: each gets its decode row every pass, drafts only
  // what is left (nothing while all four decode).
  const std::vector<fake_engine::script> scripts = {{loop_prompt, loop_continuation(64)}};
  fake_engine_options o;
  o.max_logit_rows = 4;
  scheduler_options so;
  so.max_sequences = 4;
  fake_fixture f(o, so, scripts);
  std::vector<std::shared_ptr<recording_sink>> sinks;
  std::vector<int32_t> lengths = {30, 10, 20, 40};
  gate g;
  // The first waits at its first token until all four are queued, so they run together.
  sinks.push_back(f.submit(speculative(greedy_request(loop_prompt, lengths[0])), g.at(1)));
  g.entered.wait();
  for (size_t i = 1; i < lengths.size(); ++i) sinks.push_back(f.submit(speculative(greedy_request(loop_prompt, lengths[i]))));
  g.release.open();
  for (size_t i = 0; i < sinks.size(); ++i) {
    const sink_record rec = sinks[i]->wait_finish();
    CHECK(rec.tokens == fake_engine({}, scripts).greedy(loop_prompt, lengths[i]));
  }
  CHECK(f.fake->max_logit_rows_seen() <= 4);
  // Once the short ones finished, the longest drafted into the rows they left.
  CHECK(sinks[3]->snapshot().finish.usage.accepted_tokens > 0);
  f.check_clean();
}

TEST_CASE("speculative: a draft-model request without a draft model is an error", "[scheduler][speculative]") {
  generation_request r = greedy_request(loop_prompt, 4);
  r.speculative = {proto::speculative_mode::draft, 4};
  fake_fixture f;
  const sink_record rec = f.submit(r)->wait_finish();
  CHECK(rec.finish.reason == proto::finish_reason::error);
  CHECK_THAT(rec.finish.error, Catch::Contains("draft model"));
  r.speculative = {proto::speculative_mode::ngram, proto::max_speculative_tokens + 1};
  const sink_record rec2 = f.submit(r)->wait_finish();
  CHECK(rec2.finish.reason == proto::finish_reason::error);
  CHECK_THAT(rec2.finish.error, Catch::Contains("speculative.max_tokens"));
  f.check_clean();
}

namespace {

// A scheduler over a fake target and a fake draft model (its own fake_engine: its greedy token
// is the draft), both still inspectable.
struct draft_fixture {
  fake_engine* target;
  fake_engine* draft;
  scheduler sch;

  draft_fixture(std::vector<fake_engine::script> target_scripts, std::vector<fake_engine::script> draft_scripts,
                fake_engine_options o = {}, scheduler_options so = {})
      : draft_fixture(std::make_unique<fake_engine>(o, std::move(target_scripts)),
                      std::make_unique<fake_engine>(o, std::move(draft_scripts)), so) {}

  sink_record run(generation_request r) {
    auto sink = std::make_shared<recording_sink>();
    REQUIRE(sch.submit(std::move(r), sink) == submit_status::accepted);
    return sink->wait_finish();
  }
  void check_clean() const {
    CHECK(target->violations() == std::vector<std::string>{});
    CHECK(draft->violations() == std::vector<std::string>{});
    CHECK(target->free_blocks() == target->total_blocks());
    CHECK(draft->free_blocks() == draft->total_blocks());
  }

 private:
  draft_fixture(std::unique_ptr<fake_engine> t, std::unique_ptr<fake_engine> d, scheduler_options so)
      : target(t.get()), draft(d.get()), sch(std::move(t), so, nullptr, std::move(d)) {}
};

generation_request with_draft_model(generation_request r, int32_t max_draft = 8) {
  r.speculative = {proto::speculative_mode::draft, max_draft};
  return r;
}

}  // namespace

TEST_CASE("speculative draft model: a draft that agrees is accepted whole, in fewer target passes", "[scheduler][speculative]") {
  const std::vector<fake_engine::script> scripts = {{loop_prompt, loop_continuation(80)}};
  const generation_request r = greedy_request(loop_prompt, 60);
  const run_result plain = run(r, scripts);
  draft_fixture f(scripts, scripts);  // the draft model predicts the target exactly
  const sink_record got = f.run(with_draft_model(r));
  CHECK(got.tokens == plain.record.tokens);
  CHECK(got.tokens == fake_engine({}, scripts).greedy(loop_prompt, 60));
  const proto::usage& u = got.finish.usage;
  CHECK(u.accepted_tokens == u.drafted_tokens);
  const auto target_passes = static_cast<int32_t>(f.target->batch_log().size());
  CHECK(target_passes <= 12);
  CHECK(u.accepted_tokens == 60 - target_passes);
  f.check_clean();
}

TEST_CASE("speculative draft model: a draft that disagrees changes no token, greedy or sampled", "[scheduler][speculative]") {
  // The target loops; the draft model's own (hashed) tokens mostly do not.
  const std::vector<fake_engine::script> scripts = {{loop_prompt, loop_continuation(80)}};
  int32_t drafted = 0, accepted = 0;
  for (float temperature : {0.0f, 1.0f}) {
    for (uint64_t seed : {3u, 99u}) {
      generation_request r = greedy_request(loop_prompt, 40);
      r.sampling.temperature = temperature;
      r.sampling.seed = seed;
      INFO("temperature " << temperature << ", seed " << seed);
      const run_result plain = run(r, scripts);
      draft_fixture f(scripts, {});
      const sink_record got = f.run(with_draft_model(r, 4));
      CHECK(got.tokens == plain.record.tokens);
      drafted += got.finish.usage.drafted_tokens;
      accepted += got.finish.usage.accepted_tokens;
      f.check_clean();
    }
  }
  CHECK(drafted > 0);
  CHECK(accepted < drafted);
}

TEST_CASE("speculative draft model: several sequences, a rolling window and a failing draft model", "[scheduler][speculative]") {
  const std::vector<fake_engine::script> scripts = {{loop_prompt, loop_continuation(200)}};
  SECTION("four sequences drafted in the same passes") {
    draft_fixture f(scripts, scripts);
    std::vector<std::shared_ptr<recording_sink>> sinks;
    const std::vector<int32_t> lengths = {30, 12, 25, 40};
    for (int32_t n : lengths) {
      auto sink = std::make_shared<recording_sink>();
      REQUIRE(f.sch.submit(with_draft_model(greedy_request(loop_prompt, n)), sink) == submit_status::accepted);
      sinks.push_back(sink);
    }
    for (size_t i = 0; i < sinks.size(); ++i) {
      CHECK(sinks[i]->wait_finish().tokens == fake_engine({}, scripts).greedy(loop_prompt, lengths[i]));
    }
    f.check_clean();
  }
  SECTION("a rolling window recomputes the draft model's positions too") {
    fake_engine_options small;
    small.context_length = 32;
    generation_request r = greedy_request(loop_prompt, 90);
    r.rolling = true;
    const run_result plain = run(r, scripts, small);
    draft_fixture f(scripts, scripts, small);
    const sink_record got = f.run(with_draft_model(r));
    CHECK(got.tokens == plain.record.tokens);
    CHECK(got.finish.usage.truncated_tokens > 0);
    CHECK(got.finish.usage.accepted_tokens > 0);
    f.check_clean();
  }
  SECTION("a draft model that fails costs the drafts, not the request") {
    draft_fixture f(scripts, scripts);
    f.draft->fail_on_call(3);
    const sink_record got = f.run(with_draft_model(greedy_request(loop_prompt, 40)));
    CHECK(got.finish.reason == proto::finish_reason::length);
    CHECK(got.tokens == fake_engine({}, scripts).greedy(loop_prompt, 40));
    CHECK(f.draft->batch_log().size() == 2);  // two passes ran; after the failure, none
    f.check_clean();
  }
}

TEST_CASE("speculative: draft lengths give 2^n rows with the pending token, within max_tokens", "[scheduler][speculative]") {
  // 1 + length is a power of two (tiles of 8, 4, 2, 1 rows, none left over), the largest that
  // neither the wanted length nor the request's max_tokens exceeds, and never below 1.
  CHECK(tile_draft_length(3, 8) == 3);
  CHECK(tile_draft_length(7, 8) == 7);
  CHECK(tile_draft_length(15, 8) == 7);
  CHECK(tile_draft_length(15, 16) == 15);
  CHECK(tile_draft_length(31, 16) == 15);
  CHECK(tile_draft_length(6, 16) == 3);
  CHECK(tile_draft_length(2, 8) == 1);
  CHECK(tile_draft_length(0, 8) == 1);
  CHECK(tile_draft_length(5, 1) == 1);
  CHECK(tile_draft_length(3, 2) == 1);
}

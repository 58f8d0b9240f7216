// Steerable generations (steering.h): update, append, pause and resume of a running request,
// applied at the scheduler's next step and acknowledged between tokens. The scheduler thread is
// held inside a sink at a known token (gate) while the test pushes a change, so "from the next
// token on" is checked exactly. Expected tokens come from the fake engine's definition and the
// sampler's documented draw, never from the scheduler.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "sampler.h"
#include "scheduler_test_util.h"

using namespace hearth;
using namespace hearth::test;

namespace {

std::shared_ptr<steering_box> steerable(generation_request& r) {
  r.steer = std::make_shared<steering_box>();
  return r.steer;
}

steer_op update_op() { return steer_op{steer_kind::update}; }

// Pushes `op` while the scheduler thread waits in the gate, then lets it go on.
void steer_at_gate(scheduler& sch, gate& g, steering_box& box, steer_op op) {
  g.entered.wait();
  sch.steer(box, std::move(op));
  g.release.open();
}

struct paused_run {
  std::shared_ptr<gate> g;  // its hook stays installed
  std::shared_ptr<steering_box> box;
  std::shared_ptr<recording_sink> sink;
};

// Submits r and pauses it at its n-th token; returns once the pause is acknowledged (or the
// request ended).
paused_run submit_paused(fake_fixture& f, generation_request r, int n) {
  paused_run p{std::make_shared<gate>(), steerable(r), nullptr};
  p.sink = f.submit(std::move(r), p.g->at(n));
  steer_at_gate(f.sch, *p.g, *p.box, steer_op{steer_kind::pause});
  p.sink->wait_steered(1);
  return p;
}

}  // namespace

TEST_CASE("steering: update changes sampling and max_tokens from the next token on", "[scheduler][steering]") {
  fake_fixture f;
  const std::vector<token_id> prompt = {8, 5, 12, 12, 15};
  generation_request r = greedy_request(prompt, 40);
  r.sampling.seed = 4242;
  auto box = steerable(r);
  gate g;
  auto sink = f.submit(std::move(r), g.at(10));
  steer_op op = update_op();
  op.update.temperature = 1.5f;
  op.update.top_k = 0;
  op.update.max_tokens = 25;
  steer_at_gate(f.sch, g, *box, op);
  const sink_record rec = sink->wait_finish();

  REQUIRE(rec.steered.size() == 1);
  CHECK(rec.steered[0].first.kind == steer_kind::update);
  CHECK(rec.steered[0].first.error.empty());
  CHECK(rec.steered[0].second == 10);  // acknowledged before token 11, the first made under it
  CHECK(rec.finish.reason == proto::finish_reason::length);
  REQUIRE(rec.tokens.size() == 25);

  // Tokens 1..10 greedy; then the documented draw at the new settings. Greedy took no draws,
  // so the seed's stream starts at its first output.
  const std::vector<token_id> greedy = f.fake->greedy(prompt, 10);
  CHECK(std::vector<token_id>(rec.tokens.begin(), rec.tokens.begin() + 10) == greedy);
  sampling_params p;
  p.temperature = 1.5f;
  p.top_k = 0;
  p.seed = 4242;
  sampler reference(p, fake_engine::n_vocab);
  std::vector<token_id> history = prompt;
  history.insert(history.end(), greedy.begin(), greedy.end());
  std::vector<token_id> expected = greedy;
  while (expected.size() < 25) {
    const token_id t = reference.sample(f.fake->logits(history));
    expected.push_back(t);
    history.push_back(t);
  }
  CHECK(rec.tokens == expected);
  CHECK(rec.tokens != f.fake->greedy(prompt, 25));  // the change showed
  f.check_clean();
}

TEST_CASE("steering: an update that reaches its end finishes at once, after its acknowledgement", "[scheduler][steering]") {
  SECTION("max_tokens at or below the tokens already out ends with length") {
    fake_fixture f;
    generation_request r = greedy_request({8, 5, 12}, 40);
    auto box = steerable(r);
    gate g;
    auto sink = f.submit(std::move(r), g.at(5));
    steer_op op = update_op();
    op.update.max_tokens = 3;
    steer_at_gate(f.sch, g, *box, op);
    const sink_record rec = sink->wait_finish();
    REQUIRE(rec.steered.size() == 1);
    CHECK(rec.steered[0].first.error.empty());
    CHECK(rec.finish.reason == proto::finish_reason::length);
    CHECK(rec.finish.usage.completion_tokens == 5);
    f.check_clean();
  }
  SECTION("a new stop string found in held-back text ends with stop, keeping the text before it") {
    // "He" is held back while it may start "Hello!".
    fake_fixture f({}, {}, {{{1, 2}, {28, 29, 27, 30}}});
    generation_request r = greedy_request({1, 2}, 40, {"Hello!"});
    auto box = steerable(r);
    gate g;
    auto sink = f.submit(std::move(r), g.at(1));
    steer_op op = update_op();
    op.update.stop = std::vector<std::string>{"e"};
    steer_at_gate(f.sch, g, *box, op);
    const sink_record rec = sink->wait_finish();
    REQUIRE(rec.steered.size() == 1);
    CHECK(rec.steered[0].first.error.empty());
    CHECK(rec.finish.reason == proto::finish_reason::stop);
    CHECK(rec.finish.stop_sequence == "e");
    CHECK(rec.text == "H");
    f.check_clean();
  }
  SECTION("invalid values are refused and change nothing") {
    fake_fixture f;
    const std::vector<token_id> prompt = {8, 5, 12};
    generation_request r = greedy_request(prompt, 30);
    auto box = steerable(r);
    gate g;
    auto sink = f.submit(std::move(r), g.at(4));
    g.entered.wait();
    steer_op bad = update_op();
    bad.update.temperature = 0.9f;
    bad.update.top_p = 1.5f;  // out of range: the whole change is refused, temperature too
    f.sch.steer(*box, bad);
    steer_op big = update_op();
    big.update.max_tokens = 5000;  // prompt + 5000 > the context of 4096
    f.sch.steer(*box, big);
    g.release.open();
    const sink_record rec = sink->wait_finish();
    REQUIRE(rec.steered.size() == 2);
    CHECK_THAT(rec.steered[0].first.error, Catch::Contains("top_p"));
    CHECK(rec.steered[1].first.code == "context_length_exceeded");
    CHECK(rec.tokens == f.fake->greedy(prompt, 30));
    f.check_clean();
  }
}

TEST_CASE("steering: append feeds the tokens after the pending one and generates from them", "[scheduler][steering]") {
  fake_fixture f;
  const std::vector<token_id> prompt = {8, 5, 12, 12, 15};
  const std::vector<token_id> added = {42, 43, 44, 27};  // "ABC "
  generation_request r = greedy_request(prompt, 20);
  auto box = steerable(r);
  gate g;
  auto sink = f.submit(std::move(r), g.at(5));
  steer_op op{steer_kind::append};
  op.tokens = added;
  steer_at_gate(f.sch, g, *box, op);
  const sink_record rec = sink->wait_finish();

  REQUIRE(rec.steered.size() == 1);
  CHECK(rec.steered[0].first.kind == steer_kind::append);
  CHECK(rec.steered[0].first.error.empty());
  CHECK(rec.steered[0].second == 5);
  const std::vector<token_id> before = f.fake->greedy(prompt, 5);
  std::vector<token_id> joined = prompt;
  joined.insert(joined.end(), before.begin(), before.end());
  joined.insert(joined.end(), added.begin(), added.end());
  std::vector<token_id> expected = before;
  const std::vector<token_id> after = f.fake->greedy(joined, 15);
  expected.insert(expected.end(), after.begin(), after.end());
  CHECK(rec.tokens == expected);
  CHECK(rec.finish.reason == proto::finish_reason::length);
  CHECK(rec.finish.usage.prompt_tokens == static_cast<int32_t>(prompt.size() + added.size()));
  CHECK(rec.finish.usage.completion_tokens == 20);
  // The appended text is input: never shown.
  CHECK(rec.text == text_of(expected));
  // The cache holds the whole history, the appended tokens in their place.
  const auto life = f.fake->lifetime_of(joined);
  REQUIRE(life);
  f.check_clean();
}

TEST_CASE("steering: append needs room in the context", "[scheduler][steering]") {
  fake_fixture f(fake_engine_options{.context_length = 64});
  const std::vector<token_id> prompt = {8, 5, 12, 12, 15, 1, 2, 3, 4, 5};
  generation_request r = greedy_request(prompt, 54);  // the whole context
  auto box = steerable(r);
  gate g;
  auto sink = f.submit(std::move(r), g.at(5));
  g.entered.wait();
  steer_op too_many{steer_kind::append};
  too_many.tokens.assign(49, 27);  // 10 + 5 + 49 = 64: no room for another token
  f.sch.steer(*box, too_many);
  steer_op fits{steer_kind::append};
  fits.tokens.assign(40, 27);  // 10 + 5 + 40 = 55: room for 9 more tokens
  f.sch.steer(*box, fits);
  g.release.open();
  const sink_record rec = sink->wait_finish();
  REQUIRE(rec.steered.size() == 2);
  CHECK(rec.steered[0].first.code == "context_length_exceeded");
  CHECK(rec.steered[1].first.error.empty());
  // max_tokens is cut to what the context still holds.
  CHECK(rec.finish.reason == proto::finish_reason::length);
  CHECK(rec.finish.usage.completion_tokens == 5 + 9);
  f.check_clean();
}

TEST_CASE("steering: append to a rolling window slides it to make room", "[scheduler][steering]") {
  fake_fixture f(fake_engine_options{.context_length = 64});
  generation_request r = greedy_request({8, 5, 12, 12, 15, 1, 2, 3}, 100);
  r.rolling = true;
  auto box = steerable(r);
  gate g;
  auto sink = f.submit(std::move(r), g.at(50));
  steer_op op{steer_kind::append};
  op.tokens.assign(20, 27);  // 8 + 50 + 20 > 64: the window slides first
  steer_at_gate(f.sch, g, *box, op);
  const sink_record rec = sink->wait_finish();
  REQUIRE(rec.steered.size() == 1);
  CHECK(rec.steered[0].first.error.empty());
  CHECK(rec.finish.reason == proto::finish_reason::length);
  CHECK(rec.finish.usage.completion_tokens == 100);
  CHECK(rec.finish.usage.truncated_tokens > 0);
  f.check_clean();
}

TEST_CASE("steering: a paused generation gets no rows until resumed, then goes on as it would have", "[scheduler][steering]") {
  fake_fixture f;
  const std::vector<token_id> a_prompt = {8, 5, 12, 12, 15};
  const paused_run a = submit_paused(f, greedy_request(a_prompt, 30), 3);
  const auto& a_sink = a.sink;
  // While A is paused, B runs to its end and A takes no token.
  auto b_sink = f.submit(greedy_request({20, 21, 22}, 40));
  const sink_record b = b_sink->wait_finish();
  CHECK(b.tokens == f.fake->greedy({20, 21, 22}, 40));
  sink_record a_now = a_sink->snapshot();
  CHECK(a_now.tokens.size() == 3);
  CHECK(a_now.finishes == 0);
  // It keeps its slot (the gauge is published at the end of the step B finished in).
  for (int i = 0; i < 500 && f.sch.stats().running != 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(f.sch.stats().running == 1);
  CHECK(a_sink->snapshot().tokens.size() == 3);

  f.sch.steer(*a.box, steer_op{steer_kind::resume});
  const sink_record rec = a_sink->wait_finish();
  REQUIRE(rec.steered.size() == 2);
  CHECK(rec.steered[0].first.kind == steer_kind::pause);
  CHECK(rec.steered[1].first.kind == steer_kind::resume);
  CHECK(rec.steered[1].second == 3);
  CHECK(rec.tokens == f.fake->greedy(a_prompt, 30));  // batch invariance: paused or not
  f.check_clean();
}

TEST_CASE("steering: a paused generation still ends by cancel or deadline", "[scheduler][steering]") {
  fake_fixture f;
  SECTION("cancel") {
    cancel_flag cancel = make_cancel_flag();
    const paused_run p = submit_paused(f, greedy_request({8, 5, 12}, 30, {}, cancel), 2);
    cancel->store(true);
    const sink_record rec = p.sink->wait_finish();
    CHECK(rec.finish.reason == proto::finish_reason::cancelled);
    CHECK(rec.tokens.size() == 2);
  }
  SECTION("deadline") {
    generation_request r = greedy_request({8, 5, 12}, 30);
    r.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    const paused_run p = submit_paused(f, std::move(r), 2);
    const sink_record rec = p.sink->wait_finish();
    CHECK(rec.finish.reason == proto::finish_reason::deadline);
    CHECK(rec.tokens.size() == 2);
  }
  f.check_clean();
}

TEST_CASE("steering: a paused generation gives its blocks first, and takes them back only once resumed", "[scheduler][steering]") {
  // 4-position blocks: A (oldest, paused) holds blocks that B needs to go on.
  fake_fixture f(fake_engine_options{.block_size = 4, .total_blocks = 12});
  const std::vector<token_id> a_prompt = {8, 5, 12, 12, 15};
  const paused_run a = submit_paused(f, greedy_request(a_prompt, 20), 4);
  const auto& a_sink = a.sink;
  // B alone needs 11 of the 12 blocks, A holds 2: A, paused, is preempted for it.
  auto b_sink = f.submit(greedy_request({20, 21, 22}, 40));
  const sink_record b = b_sink->wait_finish();
  CHECK(b.tokens == f.fake->greedy({20, 21, 22}, 40));
  CHECK(f.sch.stats().preemptions >= 1);
  CHECK(a_sink->snapshot().tokens.size() == 4);
  f.sch.steer(*a.box, steer_op{steer_kind::resume});
  const sink_record rec = a_sink->wait_finish();
  CHECK(rec.tokens == f.fake->greedy(a_prompt, 20));
  f.check_clean();
}

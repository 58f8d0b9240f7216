// How requests end early over the fake engine: cancellation, consumers that leave, shutdown,
// a failing forward pass. Every accepted request gets exactly one on_finish, after its tokens,
// and gives its KV blocks back.
#include <catch2/catch.hpp>

#include "scheduler_test_util.h"

using namespace hearth;
using namespace hearth::test;

namespace {

using fr = proto::finish_reason;

size_t fed_positions(const fake_engine& e, const std::vector<token_id>& prompt) {
  auto l = e.lifetime_of(prompt);
  return l ? e.lifetimes()[*l].history.size() : 0;
}

}  // namespace

TEST_CASE("scheduler: a cancel flag set during a step ends the request at the next step") {
  fake_fixture f;
  const std::vector<token_id> pa = {1, 2, 3}, pb = {4, 5, 6};
  cancel_flag flag = make_cancel_flag();
  // Set from the sink at token 5, i.e. on the scheduler thread in the middle of a step.
  auto a = f.submit(greedy_request(pa, 50, {}, flag), [&flag](int n) {
    if (n == 5) flag->store(true);
    return true;
  });
  auto b = f.submit(greedy_request(pb, 20));
  sink_record ra = a->wait_finish();
  CHECK(ra.finish.reason == fr::cancelled);
  CHECK(ra.tokens.size() == 5);
  CHECK(ra.finish.usage.completion_tokens == 5);
  CHECK(fed_positions(*f.fake, pa) == pa.size() + 4);  // token 5 was never fed
  // The other request is unaffected.
  CHECK(b->wait_finish().tokens == f.fake->greedy(pb, 20));
  f.check_clean();
  CHECK(ra.tokens_after_finish == 0);
}

TEST_CASE("scheduler: a cancel flag set by another thread ends the request at the next step") {
  fake_fixture f;
  const std::vector<token_id> pa = {1, 2, 3};
  cancel_flag flag = make_cancel_flag();
  gate g;
  auto a = f.submit(greedy_request(pa, 1000, {}, flag), g.at(3));
  g.entered.wait();
  flag->store(true);
  g.release.open();
  sink_record ra = a->wait_finish();
  CHECK(ra.finish.reason == fr::cancelled);
  CHECK(ra.tokens.size() == 3);
  CHECK(fed_positions(*f.fake, pa) == pa.size() + 2);
  f.check_clean();
}

TEST_CASE("scheduler: a cancel set during a pass drops that pass's token, and usage counts what was sent") {
  fake_fixture f;
  const std::vector<token_id> pa = {1, 2, 3}, pb = {4, 5, 6}, ph = {7, 8};
  cancel_flag b_flag = make_cancel_flag();
  gate g;  // holds the thread so that a and b are admitted in one step, b after a
  auto held = f.submit(greedy_request(ph, 4), g.at(1));
  g.entered.wait();
  // a's third token is sampled before b's in the same pass: b's flag is set in between, as a
  // client's cancel arriving during the forward pass would be.
  auto a = f.submit(greedy_request(pa, 10), [&b_flag](int n) {
    if (n == 3) b_flag->store(true);
    return true;
  });
  auto b = f.submit(greedy_request(pb, 10, {}, b_flag));
  g.release.open();
  sink_record rb = b->wait_finish();
  CHECK(rb.finish.reason == fr::cancelled);
  CHECK(rb.tokens.size() == 2);
  CHECK(rb.finish.usage.completion_tokens == 2);
  CHECK(rb.tokens == f.fake->greedy(pb, 2));
  CHECK(a->wait_finish().tokens == f.fake->greedy(pa, 10));
  held->wait_finish();
  REQUIRE(f.fake->lifetime_of(pa));
  CHECK(ever_batched_together(*f.fake, *f.fake->lifetime_of(pa), *f.fake->lifetime_of(pb)));
  f.check_clean();
}

TEST_CASE("scheduler: a queued request whose flag is set finishes without running") {
  fake_fixture f({}, {.max_sequences = 1});
  const std::vector<token_id> pa = {1, 2}, pb = {3, 4};
  gate g;
  auto a = f.submit(greedy_request(pa, 20), g.at(1));
  g.entered.wait();
  cancel_flag flag = make_cancel_flag();
  auto b = f.submit(greedy_request(pb, 20, {}, flag));
  flag->store(true);
  g.release.open();
  sink_record ra = a->wait_finish(), rb = b->wait_finish();
  CHECK(rb.finish.reason == fr::cancelled);
  CHECK(rb.tokens.empty());
  CHECK(rb.finish.usage.prompt_tokens == 2);
  CHECK(rb.finish.usage.completion_tokens == 0);
  CHECK(rb.finish_order < ra.finish_order);  // dropped at once, not when a slot freed
  CHECK_FALSE(f.fake->lifetime_of(pb));
  CHECK(ra.finish.reason == fr::length);
  f.check_clean();
}

TEST_CASE("scheduler: a sink refusing a token ends the request with cancelled, and usage counts what it took") {
  fake_fixture f;
  const std::vector<token_id> pa = {1, 2, 3};
  auto a = f.submit(greedy_request(pa, 50), [](int n) { return n < 4; });
  sink_record ra = a->wait_finish();
  CHECK(ra.finish.reason == fr::cancelled);
  CHECK(ra.tokens.size() == 3);
  CHECK(ra.refused.size() == 1);
  CHECK(ra.finish.usage.completion_tokens == 3);
  CHECK(ra.tokens_after_finish == 0);
  CHECK(fed_positions(*f.fake, pa) == pa.size() + 3);
  f.check_clean();
}

TEST_CASE("scheduler: shutdown finishes queued and running requests with shutdown") {
  // max_tokens so large that no request can end by itself before the shutdown.
  const int32_t endless = 1'000'000'000;
  fake_fixture f({.context_length = 2'000'000'000, .block_size = 16, .total_blocks = int64_t{1} << 30},
                 {.max_sequences = 2});
  std::vector<std::shared_ptr<recording_sink>> sinks;
  // The last one was cancelled by its client before the shutdown: that stays its reason.
  cancel_flag cancelled = make_cancel_flag();
  for (int i = 0; i < 5; ++i) {
    sinks.push_back(f.submit(greedy_request({i + 1, 7}, endless, {}, i == 4 ? cancelled : nullptr)));
  }
  sinks[0]->wait_tokens(1);
  sinks[1]->wait_tokens(1);
  cancelled->store(true);
  f.sch.shutdown();
  for (int i = 0; i < 5; ++i) {
    INFO("request " << i);
    sink_record r = sinks[i]->snapshot();
    CHECK(r.finishes == 1);
    CHECK(r.finish.reason == (i == 4 ? fr::cancelled : fr::shutdown));
    CHECK(r.tokens_after_finish == 0);
    CHECK(r.tokens.empty() == (i >= 2));  // three never ran
  }
  auto late = std::make_shared<recording_sink>();
  CHECK(f.sch.submit(greedy_request({1}, 4), late) == submit_status::shutting_down);
  f.sch.shutdown();  // idempotent
  const scheduler_stats st = f.sch.stats();
  CHECK(st.queued == 0);
  CHECK(st.running == 0);
  CHECK(st.kv_blocks_used == 0);
  CHECK(late->snapshot().finishes == 0);
  f.check_clean();
}

TEST_CASE("scheduler: shutdown called from a sink stops after the current step") {
  fake_fixture f({}, {.max_sequences = 1});
  gate g;  // b is queued before a reaches its second token
  auto a = f.submit(greedy_request({1, 2}, 50), [&f, at_first = g.at(1)](int n) {
    if (n == 2) f.sch.shutdown();  // on the scheduler thread: requests the stop, cannot join
    return at_first(n);
  });
  g.entered.wait();
  auto b = f.submit(greedy_request({3, 4}, 50));
  g.release.open();
  sink_record ra = a->wait_finish(), rb = b->wait_finish();
  CHECK(ra.finish.reason == fr::shutdown);
  CHECK(ra.tokens.size() == 2);
  CHECK(rb.finish.reason == fr::shutdown);
  CHECK(rb.tokens.empty());
  CHECK(f.sch.submit(greedy_request({5}, 4), std::make_shared<recording_sink>()) == submit_status::shutting_down);
  f.check_clean();
}

TEST_CASE("scheduler: destroying the scheduler ends what runs with shutdown") {
  auto sink = std::make_shared<recording_sink>();
  {
    fake_fixture f({.context_length = 2'000'000'000, .block_size = 16, .total_blocks = int64_t{1} << 30});
    REQUIRE(f.sch.submit(greedy_request({1, 2}, 1'000'000'000), sink) == submit_status::accepted);
    sink->wait_tokens(1);
  }
  CHECK(sink->snapshot().finishes == 1);
  CHECK(sink->snapshot().finish.reason == fr::shutdown);
}

TEST_CASE("scheduler: a failing forward pass fails its batch's requests, others go on") {
  // Batches of 4 rows. Pass 1: a's prompt. Pass 2 (fails): a's first decode and 3 rows of b's
  // prompt; c, admitted in the same step, got no row in it and must live on.
  fake_fixture f({.max_batch = 4}, {.max_sequences = 3});
  const std::vector<token_id> pa = {1, 2, 3}, pb = {4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, pc = {14, 15},
                              pd = {16, 17};
  f.fake->fail_on_call(2);
  gate g;
  auto a = f.submit(greedy_request(pa, 10), g.at(1));
  g.entered.wait();
  auto b = f.submit(greedy_request(pb, 10));
  auto c = f.submit(greedy_request(pc, 10));
  g.release.open();
  sink_record ra = a->wait_finish(), rb = b->wait_finish(), rc = c->wait_finish();
  for (const sink_record* r : {&ra, &rb}) {
    CHECK(r->finishes == 1);
    CHECK(r->finish.reason == fr::error);
    CHECK(r->finish.error.find("injected failure") != std::string::npos);
  }
  CHECK(rb.tokens.empty());
  const std::vector<batch_entry> rows = f.fake->failed_rows();
  REQUIRE(rows.size() == 4);
  REQUIRE(ra.tokens.size() == 1);
  CHECK((rows[0].token == ra.tokens[0] && rows[0].pos == 3 && rows[0].logits));
  for (int i = 1; i < 4; ++i) {
    CHECK((rows[i].token == pb[i - 1] && rows[i].pos == i - 1 && !rows[i].logits && rows[i].seq == rows[1].seq));
  }
  CHECK(rc.finish.reason == fr::length);
  CHECK(rc.tokens == f.fake->greedy(pc, 10));
  // And later requests are served as usual.
  CHECK(f.submit(greedy_request(pd, 10))->wait_finish().tokens == f.fake->greedy(pd, 10));
  f.check_clean();
}

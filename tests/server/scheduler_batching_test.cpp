// Continuous batching and admission over the fake engine: batch invariance, requests joining
// and leaving, KV blocks on demand, first come first served, the queue limit.
#include <algorithm>
#include <catch2/catch.hpp>

#include "scheduler_test_util.h"

using namespace hearth;
using namespace hearth::test;

namespace {

using fr = proto::finish_reason;

// Request i of the 16: distinct prompts (first token i + 1) of varied lengths, one longer than
// the batch; varied max_tokens so they leave at different steps; half greedy, half sampled
// with their own seeds, some with a repeat penalty (state that lives in each sampler).
generation_request mixed_request(int i) {
  generation_request r;
  const int len = i == 3 ? 40 : 2 + (i * 5) % 11;
  r.prompt.push_back(i + 1);
  for (int k = 1; k < len; ++k) r.prompt.push_back(1 + (i * 7 + k * 3) % 34);
  r.max_tokens = 6 + (i * 7) % 19;
  if (i % 2 == 0) {
    r.sampling.temperature = 0;
  } else {
    r.sampling = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                  .repeat_penalty = i % 4 == 1 ? 1.3f : 1.0f, .seed = 1000u + static_cast<uint64_t>(i)};
  }
  return r;
}

}  // namespace

TEST_CASE("scheduler: 16 concurrent requests give the same output as alone, batched continuously") {
  const fake_engine_options o{.max_batch = 16, .max_logit_rows = 8, .block_size = 4, .total_blocks = 4096};
  fake_fixture f(o, {.max_sequences = 4});
  // Request 0 holds the scheduler at its first token until all are queued, so the others
  // must join while earlier ones run.
  gate g;
  std::vector<std::shared_ptr<recording_sink>> sinks;
  sinks.push_back(f.submit(mixed_request(0), g.at(1)));
  g.entered.wait();
  for (int i = 1; i < 16; ++i) sinks.push_back(f.submit(mixed_request(i)));
  g.release.open();

  std::vector<sink_record> batched;
  for (auto& s : sinks) batched.push_back(s->wait_finish());
  const auto lifetimes = f.fake->lifetimes();
  for (int i = 0; i < 16; ++i) {
    INFO("request " << i);
    const generation_request r = mixed_request(i);
    const sink_record& b = batched[i];
    CHECK(b.finishes == 1);
    CHECK(b.finish.reason == fr::length);
    CHECK(b.finish.usage.prompt_tokens == static_cast<int32_t>(r.prompt.size()));
    CHECK(b.finish.usage.completion_tokens == r.max_tokens);
    if (i % 2 == 0) CHECK(b.tokens == f.fake->greedy(r.prompt, r.max_tokens));
    // The engine was fed exactly the prompt, then each sampled token but the last.
    auto l = f.fake->lifetime_of(r.prompt);
    REQUIRE(l);
    std::vector<token_id> fed = r.prompt;
    fed.insert(fed.end(), b.tokens.begin(), b.tokens.end() - 1);
    CHECK(lifetimes[*l].history == fed);
    // The property itself: batching changed nothing.
    const sink_record alone = run_alone(o, r);
    CHECK(b.tokens == alone.tokens);
    CHECK(b.text == alone.text);
    CHECK(b.pieces == alone.pieces);
  }
  CHECK(max_sequences_in_a_batch(*f.fake) == 4);
  CHECK(f.fake->joined_while_running());
  CHECK(f.fake->max_rows_seen() == 16);  // the 40-token prompt filled batches beside decodes
  f.check_clean();
}

TEST_CASE("scheduler: blocks are taken as sequences grow, not reserved for max_tokens up front") {
  // 5 blocks of 4 positions; each request may fill 4 + 8 = 12 positions (3 blocks) but starts
  // with the blocks of its prompt and first token (5 positions, 2 blocks): a and b start together.
  fake_fixture f({.block_size = 4, .total_blocks = 5}, {.max_sequences = 4});
  const std::vector<token_id> pa = {1, 2, 3, 4}, pb = {5, 6, 7, 8};
  gate g;
  auto a = f.submit(greedy_request(pa, 8), g.at(2));
  g.entered.wait();  // a is running (one full step behind it), b arrives now
  auto b = f.submit(greedy_request(pb, 8));
  scheduler_stats st = f.sch.stats();
  CHECK(st.queued + st.running == 2);
  CHECK(st.kv_blocks_used == 2);  // a's prompt and its first two tokens: 6 positions
  g.release.open();

  sink_record ra = a->wait_finish(), rb = b->wait_finish();
  CHECK(ra.tokens == f.fake->greedy(pa, 8));
  CHECK(rb.tokens == f.fake->greedy(pb, 8));
  CHECK(ra.finish.reason == fr::length);
  CHECK(rb.finish.reason == fr::length);
  CHECK(ever_batched_together(*f.fake, *f.fake->lifetime_of(pa), *f.fake->lifetime_of(pb)));
  // 3 + 3 blocks do not fit in 5: the newer, b, was preempted and recomputed what it had fed.
  st = f.sch.stats();
  CHECK(st.preemptions >= 1);
  CHECK(st.recomputed_tokens > 0);
  CHECK(st.parked == 0);
  f.check_clean();
}

TEST_CASE("scheduler: the head of the queue is not overtaken by a smaller request") {
  // 6 blocks of 4. a and b start with 4 blocks each (12-token prompts), c with 2: c would fit
  // beside a, but b is first.
  fake_fixture f({.block_size = 4, .total_blocks = 6}, {.max_sequences = 4});
  const std::vector<token_id> pa = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const std::vector<token_id> pb = {5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, pc = {9, 10, 11, 12};
  gate g;
  auto a = f.submit(greedy_request(pa, 4), g.at(2));
  g.entered.wait();
  auto b = f.submit(greedy_request(pb, 4));
  auto c = f.submit(greedy_request(pc, 4));
  CHECK(f.sch.stats().queued == 2);
  g.release.open();

  sink_record ra = a->wait_finish(), rb = b->wait_finish(), rc = c->wait_finish();
  CHECK(rc.first_token_order > ra.finish_order);
  CHECK(rb.first_token_order < rc.first_token_order);
  CHECK_FALSE(ever_batched_together(*f.fake, *f.fake->lifetime_of(pa), *f.fake->lifetime_of(pc)));
  // Once a left, b and c fit together and ran together.
  CHECK(ever_batched_together(*f.fake, *f.fake->lifetime_of(pb), *f.fake->lifetime_of(pc)));
  CHECK(ra.tokens == f.fake->greedy(pa, 4));
  CHECK(rb.tokens == f.fake->greedy(pb, 4));
  CHECK(rc.tokens == f.fake->greedy(pc, 4));
  CHECK(f.sch.stats().preemptions == 0);
  f.check_clean();
}

TEST_CASE("scheduler: a request that cannot fit while nothing runs fails instead of waiting forever") {
  // Blocks held outside the scheduler (say, by a future prefix cache) never come back on their
  // own: with nothing running, waiting for them would stall the queue for good.
  fake_fixture f({.block_size = 4, .total_blocks = 6});
  f.fake->hold_blocks(4);
  // Starts with 3 blocks (8 prompt tokens and the first generated): within the pool, not free.
  auto big = f.submit(greedy_request({1, 2, 3, 4, 5, 6, 7, 8}, 2));
  auto small = f.submit(greedy_request({5, 6}, 2));  // 1 block
  sink_record rb = big->wait_finish(), rs = small->wait_finish();
  CHECK(rb.finish.reason == fr::error);
  CHECK(rb.finish.error.find("KV") != std::string::npos);
  CHECK(rb.tokens.empty());
  CHECK(rs.tokens == f.fake->greedy({5, 6}, 2));
  CHECK(f.fake->free_blocks() == 2);
}

TEST_CASE("scheduler: a sequence that cannot grow while nothing else runs fails instead of waiting forever") {
  // 2 free blocks: the request starts (5 positions) and runs until its 9th position needs a
  // third block that nothing will ever free.
  fake_fixture f({.block_size = 4, .total_blocks = 6});
  f.fake->hold_blocks(4);
  const std::vector<token_id> prompt = {1, 2, 3, 4};
  sink_record r = f.submit(greedy_request(prompt, 8))->wait_finish();
  CHECK(r.finish.reason == fr::error);
  CHECK(r.finish.error.find("KV") != std::string::npos);
  const std::vector<token_id> all = f.fake->greedy(prompt, 8);
  CHECK(r.tokens == std::vector<token_id>(all.begin(), all.begin() + 5));  // fed up to position 8
  CHECK(f.fake->free_blocks() == 2);
  CHECK(f.fake->violations() == std::vector<std::string>{});
  // The scheduler goes on: a request that fits runs.
  CHECK(f.submit(greedy_request({5, 6}, 2))->wait_finish().tokens == f.fake->greedy({5, 6}, 2));
}

TEST_CASE("scheduler: a reservation the engine refuses fails that request only") {
  fake_fixture f;
  f.fake->fail_next_reserve();
  sink_record r = f.submit(greedy_request({1, 2}, 4))->wait_finish();
  CHECK(r.finish.reason == fr::error);
  CHECK(r.finish.error.find("KV") != std::string::npos);
  CHECK(f.submit(greedy_request({3, 4}, 4))->wait_finish().tokens == f.fake->greedy({3, 4}, 4));
  const auto lifetimes = f.fake->lifetimes();
  REQUIRE(lifetimes.size() == 2);
  CHECK(lifetimes[0].freed);
  CHECK(lifetimes[0].history.empty());
  f.check_clean();
}

TEST_CASE("scheduler: with queue_limit requests waiting, the next is refused as queue_full") {
  fake_fixture f({}, {.max_sequences = 1, .queue_limit = 2});
  gate g;
  auto a = f.submit(greedy_request({1, 2}, 5), g.at(1));
  g.entered.wait();  // a runs (and holds the thread); the queue is empty
  auto b = f.submit(greedy_request({3, 4}, 5));
  auto c = f.submit(greedy_request({5, 6}, 5));
  auto refused = std::make_shared<recording_sink>();
  CHECK(f.sch.submit(greedy_request({7, 8}, 5), refused) == submit_status::queue_full);
  CHECK(f.sch.stats().queued == 2);
  g.release.open();
  for (auto& s : {a, b, c}) CHECK(s->wait_finish().finish.reason == fr::length);
  // Room again.
  CHECK(f.submit(greedy_request({7, 8}, 5))->wait_finish().tokens == f.fake->greedy({7, 8}, 5));
  f.sch.shutdown();
  CHECK(refused->snapshot().finishes == 0);
  CHECK(max_sequences_in_a_batch(*f.fake) == 1);
  f.check_clean();
}

TEST_CASE("scheduler: requests that can start at once never count against queue_limit") {
  // queue_limit 0: nothing may wait, yet a scheduler with free slots takes what it can run.
  fake_fixture f({}, {.max_sequences = 3, .queue_limit = 0});
  gate g;
  auto a = f.submit(greedy_request({1, 2}, 5), g.at(1));
  g.entered.wait();  // a runs and holds the thread: b and c stay queued, but slots await them
  auto b = f.submit(greedy_request({3, 4}, 5));
  auto c = f.submit(greedy_request({5, 6}, 5));
  CHECK(f.sch.stats().queued == 2);
  auto refused = std::make_shared<recording_sink>();
  CHECK(f.sch.submit(greedy_request({7, 8}, 5), refused) == submit_status::queue_full);  // would wait
  g.release.open();
  for (auto& s : {a, b, c}) CHECK(s->wait_finish().finish.reason == fr::length);
  CHECK(ever_batched_together(*f.fake, *f.fake->lifetime_of({1, 2}), *f.fake->lifetime_of({5, 6})));
  // Idle again: taken at once.
  CHECK(f.submit(greedy_request({9, 10}, 3))->wait_finish().tokens == f.fake->greedy({9, 10}, 3));
  f.sch.shutdown();
  CHECK(refused->snapshot().finishes == 0);
  f.check_clean();
}

TEST_CASE("scheduler: a request whose KV blocks are not free must wait, and counts against queue_limit") {
  // 5 blocks of 4 positions, queue_limit 0.
  fake_fixture f({.block_size = 4, .total_blocks = 5}, {.max_sequences = 4, .queue_limit = 0});
  gate g;
  auto a = f.submit(greedy_request({1, 2, 3, 4, 5, 6, 7, 8}, 8), g.at(1));  // starts with 3 blocks
  g.entered.wait();
  auto b = f.submit(greedy_request({5, 6}, 2));  // 1 block: free, starts at once
  auto waits = std::make_shared<recording_sink>();
  CHECK(f.sch.submit(greedy_request({7, 8, 9, 10, 11, 12, 13, 14}, 2), waits) == submit_status::queue_full);  // 3: 1 free
  auto d = f.submit(greedy_request({11, 12}, 2));  // the last free block
  g.release.open();
  for (auto& s : {a, b, d}) CHECK(s->wait_finish().finish.reason == fr::length);
  f.sch.shutdown();
  CHECK(waits->snapshot().finishes == 0);
  f.check_clean();
}

TEST_CASE("scheduler: no more sequences run than the engine has logit rows") {
  // Every running sequence needs a logit row per step once decoding: with 2 logit rows, 2 run.
  fake_fixture f({.max_batch = 64, .max_logit_rows = 2}, {.max_sequences = 8});
  std::vector<std::shared_ptr<recording_sink>> sinks;
  for (int i = 0; i < 6; ++i) sinks.push_back(f.submit(greedy_request({i + 1, 2, 3}, 5 + i)));
  for (int i = 0; i < 6; ++i) CHECK(sinks[i]->wait_finish().tokens == f.fake->greedy({i + 1, 2, 3}, 5 + i));
  CHECK(max_sequences_in_a_batch(*f.fake) <= 2);
  CHECK(f.fake->max_logit_rows_seen() <= 2);
  f.check_clean();
}

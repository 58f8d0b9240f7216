// KV blocks on demand over the fake engine: requests start with their prompt's blocks, grow a
// block at a time, and when the pool runs out the newest sequence is preempted (parked, then
// recomputed) so the older ones go on. No admitted request fails, and none of them gives other
// tokens than it gives alone.
#include <algorithm>
#include <catch2/catch.hpp>

#include "scheduler_test_util.h"

using namespace hearth;
using namespace hearth::test;

namespace {

using fr = proto::finish_reason;

// Request i of 16: a 3-token prompt of its own and 25 tokens (28 positions, 7 blocks of 4),
// greedy or seeded with a repeat penalty (sampler state that must survive a preemption).
generation_request growing_request(int i) {
  generation_request r;
  r.prompt = {i + 1, 1 + (i * 7) % 34, 1 + (i * 11 + 5) % 34};
  r.max_tokens = 25;
  if (i % 2 == 0) {
    r.sampling.temperature = 0;
  } else {
    r.sampling = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                  .repeat_penalty = 1.3f, .seed = 77u + static_cast<uint64_t>(i)};
  }
  return r;
}

}  // namespace

TEST_CASE("scheduler: 16 requests on the KV pool that up-front reservation fills with 4 all run at once, each as alone") {
  // 28 blocks: reserving 7 per request up front ran 4 at a time. On demand all 16 start (a
  // block each), grow, and the newest are preempted and recomputed when the pool runs out.
  const fake_engine_options o{.max_batch = 64, .max_logit_rows = 16, .block_size = 4, .total_blocks = 28};
  fake_fixture f(o, {.max_sequences = 16, .queue_limit = 64});
  gate g;
  std::vector<std::shared_ptr<recording_sink>> sinks;
  sinks.push_back(f.submit(growing_request(0), g.at(1)));
  g.entered.wait();
  for (int i = 1; i < 16; ++i) sinks.push_back(f.submit(growing_request(i)));
  g.release.open();
  for (int i = 0; i < 16; ++i) {
    INFO("request " << i);
    const sink_record got = sinks[i]->wait_finish();
    const sink_record alone = run_alone(o, growing_request(i));
    CHECK(got.finishes == 1);
    CHECK(got.finish.reason == fr::length);
    CHECK(got.finish.usage.completion_tokens == 25);
    CHECK(got.tokens == alone.tokens);
    CHECK(got.text == alone.text);
  }
  CHECK(max_sequences_in_a_batch(*f.fake) == 16);  // 4x the 4 that reservation allowed
  const scheduler_stats st = f.sch.stats();
  CHECK(st.preemptions > 0);
  CHECK(st.recomputed_tokens > 0);
  CHECK(st.parked == 0);
  f.check_clean();
}

TEST_CASE("scheduler: a sequence preempted mid-prompt recomputes its prompt and samples from its last row") {
  // Batches of 4 rows, 6 blocks of 4. a (3 tokens, 20 to generate) starts with 1 block; b's
  // 16-token prompt takes the other 5 and is prefilled 3 rows a step beside a's decodes. When
  // a's 5th position needs a block, b (newer) is preempted mid-prompt; it starts over once a
  // has finished.
  fake_fixture f({.max_batch = 4, .max_logit_rows = 4, .block_size = 4, .total_blocks = 6}, {.max_sequences = 4});
  const std::vector<token_id> pa = {1, 2, 3};
  const std::vector<token_id> pb = {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  gate g;
  auto a = f.submit(greedy_request(pa, 20), g.at(1));
  g.entered.wait();
  auto b = f.submit(greedy_request(pb, 4));
  g.release.open();
  sink_record ra = a->wait_finish(), rb = b->wait_finish();
  CHECK(ra.tokens == f.fake->greedy(pa, 20));
  CHECK(rb.tokens == f.fake->greedy(pb, 4));
  CHECK(rb.finish.reason == fr::length);
  CHECK(rb.first_token_order > ra.finish_order);
  // b's first lifetime held part of its prompt; a later one the whole prompt and its tokens.
  const auto lifetimes = f.fake->lifetimes();
  std::vector<fake_engine::lifetime> b_lives;
  std::copy_if(lifetimes.begin(), lifetimes.end(), std::back_inserter(b_lives),
               [&](const auto& l) { return !l.history.empty() && l.history.front() == pb.front(); });
  REQUIRE(b_lives.size() == 2);
  CHECK(b_lives[0].history.size() > 0);
  CHECK(b_lives[0].history.size() < pb.size());
  CHECK(std::equal(b_lives[0].history.begin(), b_lives[0].history.end(), pb.begin()));
  std::vector<token_id> fed = pb;
  fed.insert(fed.end(), rb.tokens.begin(), rb.tokens.end() - 1);
  CHECK(b_lives[1].history == fed);
  CHECK(f.sch.stats().preemptions == 1);
  CHECK(f.sch.stats().recomputed_tokens == static_cast<int64_t>(pb.size()));
  f.check_clean();
}

TEST_CASE("scheduler: while a sequence is parked, queued requests wait behind it, and it can be cancelled") {
  // As above: b is preempted in the step that samples a's 3rd token. Held there, b is parked.
  fake_fixture f({.max_batch = 4, .max_logit_rows = 4, .block_size = 4, .total_blocks = 6},
                 {.max_sequences = 4, .queue_limit = 0});
  const std::vector<token_id> pa = {1, 2, 3};
  const std::vector<token_id> pb = {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  one_shot first_in, first_out, third_in, third_out;
  auto a = f.submit(greedy_request(pa, 20), [&](int n) {
    if (n == 1) {
      first_in.open();
      first_out.wait();
    } else if (n == 3) {
      third_in.open();
      third_out.wait();
    }
    return true;
  });
  first_in.wait();
  const cancel_flag cancel_b = make_cancel_flag();
  auto b = f.submit(greedy_request(pb, 4, {}, cancel_b));
  first_out.open();
  third_in.wait();
  CHECK(f.sch.stats().parked == 1);
  // A request that would start at once if nobody were parked must wait: with queue_limit 0,
  // refused.
  auto refused = std::make_shared<recording_sink>();
  CHECK(f.sch.submit(greedy_request({20, 21}, 1), refused) == submit_status::queue_full);
  cancel_b->store(true);
  third_out.open();
  sink_record rb = b->wait_finish(), ra = a->wait_finish();
  CHECK(rb.finish.reason == fr::cancelled);
  CHECK(rb.tokens.empty());
  CHECK(ra.tokens == f.fake->greedy(pa, 20));
  CHECK(f.sch.stats().parked == 0);
  f.sch.shutdown();
  CHECK(refused->snapshot().finishes == 0);
  f.check_clean();
}

TEST_CASE("scheduler: on pools and batches of many sizes, preempted requests give what they give alone") {
  // Small pools and batches make sequences preempt each other at every phase: mid-prompt,
  // mid-decode, and again while they recompute. Whatever happened, each request's tokens are
  // its own.
  int64_t preemptions = 0;
  for (int64_t blocks = 8; blocks <= 32; blocks += 4) {
    for (int64_t batch = 4; batch <= 10; batch += 2) {
      const fake_engine_options o{.max_batch = batch, .max_logit_rows = batch, .block_size = 4, .total_blocks = blocks};
      fake_fixture f(o, {.max_sequences = 6});
      std::vector<generation_request> requests;
      std::vector<std::shared_ptr<recording_sink>> sinks;
      for (int i = 0; i < 8; ++i) {
        generation_request r = growing_request(i);
        r.prompt.resize(static_cast<size_t>(3 + (i * 5) % 9), 7);  // prompts of 3 to 11 tokens
        r.max_tokens = static_cast<int32_t>(std::min<int64_t>(20, blocks * 4 - static_cast<int64_t>(r.prompt.size())));
        requests.push_back(r);
        sinks.push_back(f.submit(r));
      }
      for (size_t i = 0; i < sinks.size(); ++i) {
        INFO("pool " << blocks << ", batch " << batch << ", request " << i);
        const sink_record got = sinks[i]->wait_finish();
        CHECK(got.finish.reason == fr::length);
        CHECK(got.tokens == run_alone(o, requests[i]).tokens);
      }
      preemptions += f.sch.stats().preemptions;
      f.check_clean();
    }
  }
  CHECK(preemptions > 20);
}

// Deadlines over the fake engine with a simulated cost per pass: a request past its deadline ends
// with `deadline` (running: after its tokens so far; waiting: with none), one estimated to finish
// late is refused at submit with the estimate, and a waiting request hears its place.
#include <catch2/catch.hpp>

#include <thread>

#include "scheduler_test_util.h"

using namespace hearth;
using namespace hearth::test;

namespace {

using namespace std::chrono_literals;

// Each pass costs 2 ms plus 0.2 ms per row: a decode step of one sequence at least 2.2 ms (a
// sleep never ends early), and so does the scheduler's measured step time, a mean of those.
constexpr fake_engine_options kPerPass{.max_batch = 64, .max_logit_rows = 8, .block_size = 4, .total_blocks = 4096,
                                      .step_us = 2000, .row_us = 200};
constexpr double kMinDecodeStepS = static_cast<double>(kPerPass.step_us + kPerPass.row_us) * 1e-6;

// deadline_tokens: max_tokens, as when the client gives it, or (estimate_tokens) fewer.
generation_request with_deadline(std::vector<token_id> prompt, int32_t max_tokens, std::chrono::milliseconds in,
                                 int32_t estimate_tokens = 0) {
  generation_request r = greedy_request(std::move(prompt), max_tokens);
  r.deadline = std::chrono::steady_clock::now() + in;
  r.deadline_tokens = estimate_tokens > 0 ? estimate_tokens : max_tokens;
  return r;
}

}  // namespace

TEST_CASE("scheduler: a request past its deadline ends with deadline, running or waiting", "[scheduler][deadline]") {
  fake_fixture f(kPerPass, {.max_sequences = 1});
  gate g;
  // A long request holds the only slot; nothing is measured before its first token.
  auto a = f.submit(greedy_request({1, 2, 3}, 400), g.at(1));
  g.entered.wait();
  auto waiting = f.submit(with_deadline({4, 5, 6}, 1, 60ms));  // no estimate yet: accepted
  g.release.open();
  const sink_record w = waiting->wait_finish();
  CHECK(w.finish.reason == proto::finish_reason::deadline);
  CHECK(w.tokens.empty());
  CHECK_FALSE(w.queued.empty());  // it heard its place while it waited
  CHECK(w.queued.front().first == 0);
  a->wait_finish();

  // Running: it ends after the tokens it had, each the one it gives alone. (Estimated by its
  // first token, as when a client gives no max_tokens: it starts.)
  auto running = f.submit(with_deadline({7, 8, 9}, 4000, 100ms, 1));
  const sink_record r = running->wait_finish();
  CHECK(r.finish.reason == proto::finish_reason::deadline);
  CHECK(r.tokens.size() > 0);
  CHECK(r.tokens.size() < 4000);
  const auto alone = f.fake->greedy({7, 8, 9}, static_cast<int32_t>(r.tokens.size()));
  CHECK(r.tokens == alone);
  f.check_clean();
}

TEST_CASE("scheduler: a request estimated to finish after its deadline is refused with the estimate", "[scheduler][deadline]") {
  fake_fixture f(kPerPass, {.max_sequences = 1});
  gate g;
  // When token 99 arrived: the scheduler's last published estimate (the step after it) is later.
  std::chrono::steady_clock::time_point token_99;
  const auto gated = g.at(100);
  auto a = f.submit(greedy_request({1, 2, 3}, 300), [&](int n) {  // decode steps measured first
    if (n == 99) token_99 = std::chrono::steady_clock::now();
    return gated(n);
  });
  g.entered.wait();
  const auto since_token_99 = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - token_99).count();
  };
  // 200 steps of A left before it starts, then its own 50: at about 2.2 ms a step, ~0.55 s.
  submit_estimate est;
  auto sink = std::make_shared<recording_sink>();
  CHECK(f.sch.submit(with_deadline({4, 5, 6}, 50, 100ms), sink, &est) == submit_status::late);
  // When the estimate was published (after token 99), 201 steps of A were left, each at least
  // 2.2 ms at the measured step time, and no prompt rows (they are long done: counting them
  // would take time off); the estimate counts down from then, so the start plus the time since
  // token 99 (an upper bound on the time since publication: under sanitizers and ctest -j, a good
  // part of a second) is at least that. The step time is measured, and on a loaded machine it can
  // be several times the pass's sleep, so the upper bound is only a sanity bound. The ratio holds
  // both ways: the 201 steps ahead against the 50 tokens (and 3 prompt rows) after.
  const double since = since_token_99();
  CHECK(est.start_s + since >= 200 * kMinDecodeStepS);
  CHECK(est.start_s + since >= 2.5 * (est.finish_s - est.start_s));
  CHECK(est.start_s < 20.0);
  CHECK(est.finish_s > est.start_s + 0.05);
  CHECK(est.finish_s - est.start_s >= est.start_s * 50.0 / 202.0);
  // The same request with time enough is accepted, waits (hearing its place and estimated start),
  // and gives its tokens.
  auto ok = f.submit(with_deadline({4, 5, 6}, 50, 30s));
  g.release.open();
  const sink_record rec = ok->wait_finish();
  CHECK(rec.finish.reason == proto::finish_reason::length);
  CHECK(rec.tokens == f.fake->greedy({4, 5, 6}, 50));
  REQUIRE_FALSE(rec.queued.empty());
  CHECK(rec.queued.front().first == 0);
  // Told from an estimate published after token 99, counted down to when it was told.
  CHECK(rec.queued.front().second + std::chrono::duration<double>(rec.queued_at.front() - token_99).count() >=
        200 * kMinDecodeStepS);
  a->wait_finish();
  f.check_clean();
}

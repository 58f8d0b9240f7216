// Fair shares over the fake engine: running slots and prompt rows are shared between clients in
// proportion to their weights, a newcomer does not queue behind another client's backlog, caps
// hold, and every request still gives exactly the tokens it gives alone.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>

#include "scheduler_test_util.h"

using namespace hearth;
using namespace hearth::test;

namespace {

constexpr fake_engine_options kEngine{.max_batch = 64, .max_logit_rows = 8, .block_size = 4, .total_blocks = 4096};

generation_request from(const std::string& client, std::vector<token_id> prompt, int32_t max_tokens,
                        int32_t weight = 1, int32_t max_running = 0) {
  generation_request r = greedy_request(std::move(prompt), max_tokens);
  r.client = {client, weight, max_running};
  return r;
}

// The prompts of client `c` (its first token) and request i.
std::vector<token_id> prompt_of(token_id c, int i) { return {c, static_cast<token_id>(1 + i), 3, 4, 5}; }

// Per forward pass: how many sequences of each client (by the first token of their history) it held.
std::vector<std::map<token_id, int>> sequences_per_client(const fake_engine& e) {
  const auto lives = e.lifetimes();
  std::vector<std::map<token_id, int>> out;
  for (const auto& batch : e.batch_log()) {
    auto& m = out.emplace_back();
    for (int l : batch) ++m[lives[static_cast<size_t>(l)].history.front()];
  }
  return out;
}

// The pass (index into batch_log) in which each prompt first ran.
std::map<std::vector<token_id>, size_t> first_pass_of(const fake_engine& e) {
  const auto lives = e.lifetimes();
  const auto batches = e.batch_log();
  std::map<std::vector<token_id>, size_t> out;
  for (size_t i = 0; i < batches.size(); ++i) {
    for (int l : batches[i]) {
      const auto& h = lives[static_cast<size_t>(l)].history;
      out.emplace(std::vector<token_id>(h.begin(), h.begin() + std::min<std::ptrdiff_t>(5, std::ssize(h))), i);
    }
  }
  return out;
}

// Holds the scheduler thread in a sink twice: at token `first` (the test submits the rest of the
// backlog meanwhile, so it is all queued before anything runs on) and at token `second`.
struct two_gates {
  gate first, second;
  std::function<bool(int)> at(int n_first, int n_second) {
    return [this, n_first, n_second](int n) {
      gate* g = n == n_first ? &first : n == n_second ? &second : nullptr;
      if (g) {
        g->entered.open();
        g->release.wait();
      }
      return true;
    };
  }
};

}  // namespace

TEST_CASE("scheduler: a client's request starts at once while another client fills every slot", "[scheduler][fair]") {
  fake_fixture f(kEngine, {.max_sequences = 4});
  constexpr token_id A = 10, B = 20;
  two_gates g;
  std::vector<std::shared_ptr<recording_sink>> a;
  a.push_back(f.submit(from("A", prompt_of(A, 0), 40), g.at(1, 5)));
  g.first.entered.wait();
  for (int i = 1; i < 8; ++i) a.push_back(f.submit(from("A", prompt_of(A, i), 40)));
  g.first.release.open();
  g.second.entered.wait();  // A's first four run, four more wait
  REQUIRE(f.sch.stats().queued == 4);
  const size_t arrived = f.fake->batch_log().size();
  auto b = f.submit(from("B", prompt_of(B, 0), 40));
  g.second.release.open();
  const sink_record rb = b->wait_finish();
  std::vector<sink_record> ra;
  for (auto& s : a) ra.push_back(s->wait_finish());

  // B runs in the first pass after it arrived, beside three of A's: one of A's yielded its slot.
  const auto first = first_pass_of(*f.fake);
  CHECK(first.at(prompt_of(B, 0)) == arrived);
  CHECK(sequences_per_client(*f.fake)[arrived] == std::map<token_id, int>{{A, 3}, {B, 1}});
  for (int i = 4; i < 8; ++i) CHECK(first.at(prompt_of(A, i)) > arrived);
  CHECK(f.sch.stats().fair_preemptions == 1);
  CHECK(f.sch.stats().preemptions == 0);
  // Yielding changes nobody's tokens.
  CHECK(rb.tokens == f.fake->greedy(prompt_of(B, 0), 40));
  for (int i = 0; i < 8; ++i) CHECK(ra[static_cast<size_t>(i)].tokens == f.fake->greedy(prompt_of(A, i), 40));
  f.check_clean();
}

TEST_CASE("scheduler: two backlogged clients hold the slots in proportion to their weights", "[scheduler][fair]") {
  const auto [weight_a, want_a, want_b] = GENERATE(std::tuple{1, 2, 2}, std::tuple{3, 3, 1});
  fake_fixture f(kEngine, {.max_sequences = 4});
  constexpr token_id A = 10, B = 20;
  two_gates g;
  std::vector<std::shared_ptr<recording_sink>> sinks;
  sinks.push_back(f.submit(from("A", prompt_of(A, 0), 30, weight_a), g.at(1, 3)));
  g.first.entered.wait();
  for (int i = 1; i < 8; ++i) sinks.push_back(f.submit(from("A", prompt_of(A, i), 30, weight_a)));
  g.first.release.open();
  g.second.entered.wait();  // A's first four run, four more wait
  REQUIRE(f.sch.stats().queued == 4);
  const size_t arrived = f.fake->batch_log().size();
  for (int i = 0; i < 8; ++i) sinks.push_back(f.submit(from("B", prompt_of(B, i), 30)));
  g.second.release.open();
  for (auto& s : sinks) s->wait_finish();

  // While both still have requests that have not started, every pass holds want_a of A's
  // sequences and want_b of B's.
  const auto first = first_pass_of(*f.fake);
  size_t a_last = 0, b_last = 0;  // the pass each client's last request started in
  for (int i = 0; i < 8; ++i) {
    a_last = std::max(a_last, first.at(prompt_of(A, i)));
    b_last = std::max(b_last, first.at(prompt_of(B, i)));
  }
  const auto per_pass = sequences_per_client(*f.fake);
  const size_t both_until = std::min(a_last, b_last);
  REQUIRE(both_until > arrived + 10);
  for (size_t i = arrived; i < both_until; ++i) {
    INFO("pass " << i);
    CHECK(per_pass[i] == std::map<token_id, int>{{A, want_a}, {B, want_b}});
  }
  for (int i = 0; i < 16; ++i) {
    const std::vector<token_id> p = prompt_of(i < 8 ? A : B, i % 8);
    CHECK(sinks[static_cast<size_t>(i)]->wait_finish().tokens == f.fake->greedy(p, 30));
  }
  f.check_clean();
}

TEST_CASE("scheduler: a client's cap holds, and leaves the other slots to others", "[scheduler][fair]") {
  fake_fixture f(kEngine, {.max_sequences = 4});
  constexpr token_id A = 10, B = 20;
  gate g;
  auto blocker = f.submit(from("B", prompt_of(B, 0), 20), g.at(2));
  g.entered.wait();
  std::vector<std::shared_ptr<recording_sink>> sinks;
  for (int i = 0; i < 6; ++i) sinks.push_back(f.submit(from("A", prompt_of(A, i), 12, 1, 2)));
  sinks.push_back(f.submit(from("B", prompt_of(B, 1), 12)));
  g.release.open();
  blocker->wait_finish();
  for (auto& s : sinks) s->wait_finish();
  for (const auto& pass : sequences_per_client(*f.fake)) CHECK((pass.count(A) == 0 || pass.at(A) <= 2));
  // B's second request did not wait for A's queue: it started in the first pass after it came.
  const auto first = first_pass_of(*f.fake);
  CHECK(first.at(prompt_of(B, 1)) <= first.at(prompt_of(A, 0)));
  CHECK(f.sch.stats().fair_preemptions == 0);
  f.check_clean();
}

TEST_CASE("scheduler: clients prefilling at once share the prompt rows", "[scheduler][fair]") {
  fake_fixture f(kEngine, {.max_sequences = 4, .prefill_share = 100});
  constexpr token_id A = 10, B = 20;
  gate g;
  auto stream = f.submit(from("A", prompt_of(A, 0), 30), g.at(3));
  g.entered.wait();
  std::vector<token_id> long_prompt = prompt_of(A, 1), short_prompt = prompt_of(B, 0);
  for (int i = 0; i < 300; ++i) long_prompt.push_back(1 + (i * 13) % 34);
  for (int i = 0; i < 40; ++i) short_prompt.push_back(1 + (i * 7) % 34);
  const size_t arrived = f.fake->batch_log().size();
  auto a = f.submit(from("A", long_prompt, 4));  // first in line, and the same client as the stream
  auto b = f.submit(from("B", short_prompt, 4));
  g.release.open();
  CHECK(b->wait_finish().tokens == f.fake->greedy(short_prompt, 4));
  CHECK(a->wait_finish().tokens == f.fake->greedy(long_prompt, 4));
  stream->wait_finish();

  // The first pass after they came: 63 prompt rows beside the stream's decode row, split so each
  // client holds as many rows as the other (A's decode row counts), the odd one to either.
  const auto rows = f.fake->row_log().at(arrived);
  const auto batch = f.fake->batch_log().at(arrived);
  const auto lives = f.fake->lifetimes();
  int rows_a = 0, rows_b = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    (lives[static_cast<size_t>(batch[i])].history.front() == A ? rows_a : rows_b) += rows[i];
  }
  CHECK(rows_a + rows_b == 64);
  CHECK(std::abs(rows_a - rows_b) <= 1);
  // So B's 45-token prompt is in after two passes, where first come first served would have
  // kept it behind A's 305 tokens for five.
  const int b_life = *f.fake->lifetime_of(short_prompt);
  const auto batches = f.fake->batch_log();
  const auto row_counts = f.fake->row_log();
  int b_rows = 0;
  for (size_t pass = arrived; pass <= arrived + 1; ++pass) {
    for (size_t i = 0; i < batches[pass].size(); ++i) {
      if (batches[pass][i] == b_life) b_rows += row_counts[pass][i];
    }
  }
  CHECK(b_rows == 45);
  f.check_clean();
}

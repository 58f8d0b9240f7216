#pragma once
// Shared setup of the scheduler tests: a scheduler over a fake engine the test can still inspect.
#include <catch2/catch.hpp>
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "fake_engine.h"
#include "recording_sink.h"
#include "scheduler.h"

namespace hearth::test {

inline generation_request greedy_request(std::vector<token_id> prompt, int32_t max_tokens,
                                         std::vector<std::string> stop = {}, cancel_flag cancel = nullptr) {
  generation_request r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  r.stop = std::move(stop);
  r.cancel = std::move(cancel);
  return r;
}

inline cancel_flag make_cancel_flag() { return std::make_shared<std::atomic<bool>>(false); }

// The text the fake's tokens stand for, joined.
inline std::string text_of(const std::vector<token_id>& tokens) {
  std::string s;
  for (token_id t : tokens) s += fake_engine::bytes_of(t);
  return s;
}

// The scheduler owns the engine; `fake` stays valid as long as the fixture.
struct fake_fixture {
  fake_engine* fake;
  scheduler sch;

  explicit fake_fixture(fake_engine_options o = {}, scheduler_options so = {},
                        std::vector<fake_engine::script> scripts = {}, metrics* m = nullptr)
      : fake_fixture(std::make_unique<fake_engine>(o, std::move(scripts)), so, m) {}

  // Submits r; requires `accepted`.
  std::shared_ptr<recording_sink> submit(generation_request r, std::function<bool(int)> hook = {}) {
    auto sink = std::make_shared<recording_sink>();
    sink->hook = std::move(hook);
    REQUIRE(sch.submit(std::move(r), sink) == submit_status::accepted);
    return sink;
  }

  // After every request finished: the fake saw no contract violation and every block is back.
  void check_clean() const {
    CHECK(fake->violations() == std::vector<std::string>{});
    CHECK(fake->free_blocks() == fake->total_blocks());
  }

 private:
  fake_fixture(std::unique_ptr<fake_engine> e, scheduler_options so, metrics* m)
      : fake(e.get()), sch(std::move(e), so, m) {}
};

// Some forward pass held both lifetimes (indices into fake_engine::lifetimes()).
inline bool ever_batched_together(const fake_engine& e, int a, int b) {
  for (const auto& batch : e.batch_log()) {
    if (std::count(batch.begin(), batch.end(), a) && std::count(batch.begin(), batch.end(), b)) return true;
  }
  return false;
}

// The most sequences (lifetimes) one forward pass held.
inline size_t max_sequences_in_a_batch(const fake_engine& e) {
  size_t m = 0;
  for (const auto& b : e.batch_log()) m = std::max(m, b.size());
  return m;
}

// One request on a fresh scheduler, to compare with the same request batched.
inline sink_record run_alone(const fake_engine_options& o, const generation_request& r) {
  fake_fixture f(o);
  sink_record out = f.submit(r)->wait_finish();
  f.check_clean();
  return out;
}

}  // namespace hearth::test

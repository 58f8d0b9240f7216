#pragma once
// A token_sink for scheduler tests: records every event and lets the test thread wait for them.
// Catch2 assertions stay on the test thread; the sink only records.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "token_sink.h"

namespace hearth::test {

struct sink_record {
  std::vector<token_id> tokens;     // the tokens taken (on_token returned true)
  std::vector<std::string> pieces;  // the text of each token taken
  std::string text;                 // every piece, then the finish text
  std::vector<token_id> refused;    // tokens the hook refused (on_token returned false)
  int finishes = 0;
  int tokens_after_finish = 0;
  finish_event finish;
  // Places in one order shared by all sinks (the scheduler thread calls them one at a time).
  int64_t first_token_order = -1;
  int64_t finish_order = -1;
  std::vector<std::pair<int64_t, double>> queued;  // every on_queued: position, estimated start (s)
  std::vector<std::chrono::steady_clock::time_point> queued_at;  // and when it came
  // Every on_steered, with the tokens taken before it.
  std::vector<std::pair<steer_result, size_t>> steered;
};

class recording_sink final : public token_sink {
 public:
  // Optional, set before submit. Runs on the scheduler thread after each token is recorded,
  // with the number of tokens so far; its result is on_token's. A refused token is moved from
  // `tokens` to `refused`.
  std::function<bool(int n_tokens)> hook;

  bool on_token(const token_event& e) override;
  void on_finish(const finish_event& e) override;
  void on_queued(int64_t position, double estimated_start_s) override {
    std::lock_guard lock(mu_);
    r_.queued.emplace_back(position, estimated_start_s);
    r_.queued_at.push_back(std::chrono::steady_clock::now());
  }
  void on_steered(const steer_result& result) override {
    {
      std::lock_guard lock(mu_);
      r_.steered.emplace_back(result, r_.tokens.size());
    }
    cv_.notify_all();
  }

  sink_record wait_finish() const;
  void wait_tokens(int n) const;
  void wait_steered(size_t n) const;
  sink_record snapshot() const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  sink_record r_;
};

// A one-shot signal from one thread to another.
class one_shot {
 public:
  void open() { p_.set_value(); }
  void wait() const { f_.wait(); }

 private:
  std::promise<void> p_;
  std::shared_future<void> f_ = p_.get_future().share();
};

// Holds the scheduler thread inside a sink at token `at` until released: the test can then act
// (submit, cancel, read stats) at a known point of the schedule.
struct gate {
  one_shot entered, release;
  std::function<bool(int)> at(int n_token) {
    return [this, n_token](int n) {
      if (n == n_token) {
        entered.open();
        release.wait();
      }
      return true;
    };
  }
};

}  // namespace hearth::test

#pragma once
// Counters and histograms for GET /metrics, rendered in the Prometheus text format.
// Thread-safe: any thread may record; rendering takes a consistent-enough snapshot.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hearth {

struct scheduler_stats;

class histogram {
 public:
  explicit histogram(std::vector<double> upper_bounds);
  void observe(double v);
  // Appends `name_bucket{le=..}`, `name_sum` and `name_count` lines.
  void render(std::string& out, std::string_view name) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // one per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

class metrics {
 public:
  metrics();

  // status 0: the request ended before any status was sent (rendered as status="none").
  void count_request(std::string_view endpoint, int status);
  // Connections: open now, refused at accept (reason: max_connections, max_connections_per_peer),
  // and accept() failures (error: too_many_open_files, ...).
  void set_open_connections(int64_t n) { open_connections_.store(n, std::memory_order_relaxed); }
  void count_refused_connection(std::string_view reason);
  void count_accept_error(std::string_view error);
  void add_prompt_tokens(int64_t n) { prompt_tokens_ += n; }
  void add_generated_tokens(int64_t n) { generated_tokens_ += n; }
  // Speculative decoding: tokens drafted, and of those the ones the model accepted (each call adds
  // a step's or a sequence's counts; accepted <= drafted).
  void add_speculative(int64_t drafted, int64_t accepted) {
    speculative_drafted_ += drafted;
    speculative_accepted_ += accepted;
  }
  void observe_time_to_first_token(double seconds) { ttft_.observe(seconds); }
  void observe_inter_token_latency(double seconds) { itl_.observe(seconds); }
  void count_finished(std::string_view reason);
  // One forward pass: its rows (tokens) and the sequences they came from.
  void observe_batch(int64_t rows, int64_t sequences) {
    batch_rows_.observe(static_cast<double>(rows));
    batch_sequences_.observe(static_cast<double>(sequences));
  }

  std::string render(const scheduler_stats& s) const;

 private:
  mutable std::mutex mu_;  // guards the labelled counters
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> finished_;
  std::map<std::string, uint64_t> refused_connections_;
  std::map<std::string, uint64_t> accept_errors_;
  std::atomic<int64_t> open_connections_{0};
  std::atomic<uint64_t> prompt_tokens_{0};
  std::atomic<uint64_t> generated_tokens_{0};
  std::atomic<uint64_t> speculative_drafted_{0};
  std::atomic<uint64_t> speculative_accepted_{0};
  histogram ttft_;
  histogram itl_;
  histogram batch_rows_;
  histogram batch_sequences_;
};

}  // namespace hearth

#include "metrics.h"

#include <cstdio>

#include "scheduler.h"

namespace hearth {

namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// A counter with one label: HELP and TYPE lines, then one sample per label value.
void render_counter(std::string& out, std::string_view name, std::string_view help, std::string_view label,
                    const std::map<std::string, uint64_t>& values) {
  const std::string n(name);
  out += "# HELP " + n + " " + std::string(help) + "\n# TYPE " + n + " counter\n";
  for (const auto& [value, count] : values) {
    out += n + "{" + std::string(label) + "=\"" + value + "\"} " + std::to_string(count) + "\n";
  }
}

// One unlabelled sample with its HELP and TYPE lines.
void render_scalar(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                   const std::string& value) {
  const std::string n(name);
  out += "# HELP " + n + " " + std::string(help) + "\n# TYPE " + n + " " + std::string(type) + "\n";
  out += n + " " + value + "\n";
}

void render_scalar(std::string& out, std::string_view name, std::string_view type, std::string_view help, int64_t value) {
  render_scalar(out, name, type, help, std::to_string(value));
}

}  // namespace

histogram::histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double s = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(s, s + v, std::memory_order_relaxed)) {
  }
}

void histogram::render(std::string& out, std::string_view name) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    out += std::string(name) + "_bucket{le=\"" + (i < bounds_.size() ? fmt(bounds_[i]) : "+Inf") + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += std::string(name) + "_sum " + fmt(sum_.load()) + "\n";
  out += std::string(name) + "_count " + std::to_string(count_.load()) + "\n";
}

metrics::metrics()
    : ttft_({0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64}),
      itl_({0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5}),
      batch_rows_({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}),
      batch_sequences_({1, 2, 4, 8, 16, 32, 64}) {
  // Known label values start at 0, so a series exists before its first event.
  for (const char* r : {"max_connections", "max_connections_per_peer"}) refused_connections_[r] = 0;
  for (const char* e : {"too_many_open_files", "too_many_open_files_system", "out_of_memory", "other"}) accept_errors_[e] = 0;
}

void metrics::count_request(std::string_view endpoint, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{std::string(endpoint), status}];
}

void metrics::count_refused_connection(std::string_view reason) {
  std::lock_guard lock(mu_);
  ++refused_connections_[std::string(reason)];
}

void metrics::count_accept_error(std::string_view error) {
  std::lock_guard lock(mu_);
  ++accept_errors_[std::string(error)];
}

void metrics::count_finished(std::string_view reason) {
  std::lock_guard lock(mu_);
  ++finished_[std::string(reason)];
}

std::string metrics::render(const scheduler_stats& s) const {
  std::string out;
  out += "# HELP hearth_requests_total HTTP requests by endpoint and status code.\n";
  out += "# TYPE hearth_requests_total counter\n";
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, n] : requests_) {
      out += "hearth_requests_total{endpoint=\"" + key.first + "\",status=\"" +
             (key.second > 0 ? std::to_string(key.second) : std::string("none")) + "\"} " + std::to_string(n) + "\n";
    }
    render_counter(out, "hearth_connections_refused_total", "Connections refused at accept, by reason.", "reason",
                   refused_connections_);
    render_counter(out, "hearth_accept_errors_total",
                   "Failed accepts by error (the listener pauses on resource errors).", "error", accept_errors_);
    render_counter(out, "hearth_generations_total", "Finished generations by finish reason.", "reason", finished_);
  }
  render_scalar(out, "hearth_open_connections", "gauge", "Client connections open (HTTP and WebSocket).",
                std::to_string(open_connections_.load(std::memory_order_relaxed)));
  render_scalar(out, "hearth_prompt_tokens_total", "counter", "Prompt tokens processed.",
                std::to_string(prompt_tokens_.load()));
  render_scalar(out, "hearth_generated_tokens_total", "counter", "Tokens generated.",
                std::to_string(generated_tokens_.load()));
  render_scalar(out, "hearth_speculative_drafted_tokens_total", "counter", "Tokens drafted by speculative decoding.",
                std::to_string(speculative_drafted_.load()));
  render_scalar(out, "hearth_speculative_accepted_tokens_total", "counter",
                "Drafted tokens the model accepted (generated without a forward pass of their own).",
                std::to_string(speculative_accepted_.load()));
  render_scalar(out, "hearth_queue_depth", "gauge", "Requests waiting to start.",
                s.queued);
  render_scalar(out, "hearth_running_sequences", "gauge", "Sequences in the batch.",
                s.running);
  render_scalar(out, "hearth_parked_sequences", "gauge", "Preempted sequences waiting for KV blocks (among the running).",
                s.parked);
  render_scalar(out, "hearth_preemptions_total", "counter", "Sequences preempted to free KV blocks for older ones.",
                s.preemptions);
  render_scalar(out, "hearth_recomputed_tokens_total", "counter", "Positions recomputed by preempted sequences when they resumed.",
                s.recomputed_tokens);
  render_scalar(out, "hearth_fair_preemptions_total", "counter",
                "Sequences preempted to give another client its share of the running slots (--client-weight).",
                s.fair_preemptions);
  render_scalar(out, "hearth_yielded_sequences", "gauge",
                "Sequences preempted for fair shares, waiting for their client's turn (not among the running).",
                s.yielded);
  render_scalar(out, "hearth_prefix_cache_hit_tokens_total", "counter", "Prompt tokens read from the prefix cache instead of computed.",
                s.cache_hit_tokens);
  render_scalar(out, "hearth_prefix_cache_blocks", "gauge", "KV blocks held by prefix cache entries (evicted on demand).",
                s.cache_blocks);
  render_scalar(out, "hearth_prefix_cache_entries", "gauge", "Prefix cache entries.",
                s.cache_entries);
  render_scalar(out, "hearth_prefill_budget_rows", "gauge", "Prompt rows a step may carry while sequences decode (--prefill-share).",
                s.prefill_budget);
  render_scalar(out, "hearth_decode_step_seconds", "gauge", "Recent time of a step carrying decode rows only.",
                std::to_string(s.decode_step_ms / 1000.0));
  render_scalar(out, "hearth_kv_blocks_used", "gauge", "KV cache blocks held by sequences.",
                s.kv_blocks_used);
  render_scalar(out, "hearth_kv_blocks_free", "gauge", "KV cache blocks free.",
                s.kv_blocks_free);
  if (!s.kv_type.empty()) {
    out += "# HELP hearth_kv_cache_bytes_per_token Bytes of KV cache one position of context takes, by row type.\n";
    out += "# TYPE hearth_kv_cache_bytes_per_token gauge\n";
    out += "hearth_kv_cache_bytes_per_token{type=\"" + s.kv_type + "\"} " + std::to_string(s.kv_bytes_per_token) + "\n";
  }
  const auto render_histogram = [&out](std::string_view name, std::string_view help, const histogram& h) {
    out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) + " histogram\n";
    h.render(out, name);
  };
  render_histogram("hearth_time_to_first_token_seconds", "Submission to first generated token.", ttft_);
  render_histogram("hearth_inter_token_latency_seconds", "Time between consecutive tokens of a sequence.", itl_);
  render_histogram("hearth_batch_rows", "Tokens per forward pass.", batch_rows_);
  render_histogram("hearth_batch_sequences", "Sequences sharing a forward pass.", batch_sequences_);
  return out;
}

}  // namespace hearth

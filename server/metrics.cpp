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
  out += "# HELP hearth_open_connections Client connections open (HTTP and WebSocket).\n";
  out += "# TYPE hearth_open_connections gauge\n";
  out += "hearth_open_connections " + std::to_string(open_connections_.load(std::memory_order_relaxed)) + "\n";
  out += "# HELP hearth_prompt_tokens_total Prompt tokens processed.\n";
  out += "# TYPE hearth_prompt_tokens_total counter\n";
  out += "hearth_prompt_tokens_total " + std::to_string(prompt_tokens_.load()) + "\n";
  out += "# HELP hearth_generated_tokens_total Tokens generated.\n";
  out += "# TYPE hearth_generated_tokens_total counter\n";
  out += "hearth_generated_tokens_total " + std::to_string(generated_tokens_.load()) + "\n";
  out += "# HELP hearth_queue_depth Requests waiting to start.\n# TYPE hearth_queue_depth gauge\n";
  out += "hearth_queue_depth " + std::to_string(s.queued) + "\n";
  out += "# HELP hearth_running_sequences Sequences in the batch.\n# TYPE hearth_running_sequences gauge\n";
  out += "hearth_running_sequences " + std::to_string(s.running) + "\n";
  out += "# HELP hearth_parked_sequences Preempted sequences waiting for KV blocks (among the running).\n";
  out += "# TYPE hearth_parked_sequences gauge\n";
  out += "hearth_parked_sequences " + std::to_string(s.parked) + "\n";
  out += "# HELP hearth_preemptions_total Sequences preempted to free KV blocks for older ones.\n";
  out += "# TYPE hearth_preemptions_total counter\n";
  out += "hearth_preemptions_total " + std::to_string(s.preemptions) + "\n";
  out += "# HELP hearth_recomputed_tokens_total Positions recomputed by preempted sequences when they resumed.\n";
  out += "# TYPE hearth_recomputed_tokens_total counter\n";
  out += "hearth_recomputed_tokens_total " + std::to_string(s.recomputed_tokens) + "\n";
  out += "# HELP hearth_prefix_cache_hit_tokens_total Prompt tokens read from the prefix cache instead of computed.\n";
  out += "# TYPE hearth_prefix_cache_hit_tokens_total counter\n";
  out += "hearth_prefix_cache_hit_tokens_total " + std::to_string(s.cache_hit_tokens) + "\n";
  out += "# HELP hearth_prefix_cache_blocks KV blocks held by prefix cache entries (evicted on demand).\n";
  out += "# TYPE hearth_prefix_cache_blocks gauge\n";
  out += "hearth_prefix_cache_blocks " + std::to_string(s.cache_blocks) + "\n";
  out += "# HELP hearth_prefix_cache_entries Prefix cache entries.\n# TYPE hearth_prefix_cache_entries gauge\n";
  out += "hearth_prefix_cache_entries " + std::to_string(s.cache_entries) + "\n";
  out += "# HELP hearth_prefill_budget_rows Prompt rows a step may carry while sequences decode (--prefill-share).\n";
  out += "# TYPE hearth_prefill_budget_rows gauge\n";
  out += "hearth_prefill_budget_rows " + std::to_string(s.prefill_budget) + "\n";
  out += "# HELP hearth_decode_step_seconds Recent time of a step carrying decode rows only.\n";
  out += "# TYPE hearth_decode_step_seconds gauge\n";
  out += "hearth_decode_step_seconds " + std::to_string(s.decode_step_ms / 1000.0) + "\n";
  out += "# HELP hearth_kv_blocks_used KV cache blocks held by sequences.\n# TYPE hearth_kv_blocks_used gauge\n";
  out += "hearth_kv_blocks_used " + std::to_string(s.kv_blocks_used) + "\n";
  out += "# HELP hearth_kv_blocks_free KV cache blocks free.\n# TYPE hearth_kv_blocks_free gauge\n";
  out += "hearth_kv_blocks_free " + std::to_string(s.kv_blocks_free) + "\n";
  if (!s.kv_type.empty()) {
    out += "# HELP hearth_kv_cache_bytes_per_token Bytes of KV cache one position of context takes, by row type.\n";
    out += "# TYPE hearth_kv_cache_bytes_per_token gauge\n";
    out += "hearth_kv_cache_bytes_per_token{type=\"" + s.kv_type + "\"} " + std::to_string(s.kv_bytes_per_token) + "\n";
  }
  out += "# HELP hearth_time_to_first_token_seconds Submission to first generated token.\n";
  out += "# TYPE hearth_time_to_first_token_seconds histogram\n";
  ttft_.render(out, "hearth_time_to_first_token_seconds");
  out += "# HELP hearth_inter_token_latency_seconds Time between consecutive tokens of a sequence.\n";
  out += "# TYPE hearth_inter_token_latency_seconds histogram\n";
  itl_.render(out, "hearth_inter_token_latency_seconds");
  out += "# HELP hearth_batch_rows Tokens per forward pass.\n# TYPE hearth_batch_rows histogram\n";
  batch_rows_.render(out, "hearth_batch_rows");
  out += "# HELP hearth_batch_sequences Sequences sharing a forward pass.\n";
  out += "# TYPE hearth_batch_sequences histogram\n";
  batch_sequences_.render(out, "hearth_batch_sequences");
  return out;
}

}  // namespace hearth

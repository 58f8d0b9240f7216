#include "request_log.h"

#include <cstdio>

namespace hearth {

void record_request(app& a, const request_record& r) {
  a.stats.count_request(r.endpoint, r.status);
  if (!a.config.log_requests) return;
  const double ms = std::chrono::duration<double, std::milli>(r.elapsed).count();
  std::string status = r.status > 0 ? std::to_string(r.status) : "-";
  std::string line = std::string(r.method) + " " + std::string(r.path) + " " + status + " " + std::to_string(r.bytes) +
                     "B " + std::to_string(static_cast<long long>(ms + 0.5)) + "ms id=" + std::string(r.id);
  if (!r.outcome.empty()) line += " (" + std::string(r.outcome) + ")";
  if (!r.detail.empty()) line += " " + std::string(r.detail);
  line += "\n";
  // One write per record, so lines from several threads do not interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

std::string generation_summary(const app& a, const finish_event& e, std::string_view prompt_text,
                               std::string_view output_text) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "finish=%s prompt=%d completion=%d queue=%.0fms prefill=%.0fms (%.1f tok/s) generate=%.0fms (%.1f tok/s)",
                std::string(proto::to_string(e.reason)).c_str(), e.usage.prompt_tokens, e.usage.completion_tokens,
                e.timings.queue_ms, e.timings.prompt_ms, e.timings.prompt_per_second, e.timings.predicted_ms,
                e.timings.predicted_per_second);
  std::string out = buf;
  if (e.usage.drafted_tokens > 0) {  // speculative decoding: how much of the drafts held
    out += " drafted=" + std::to_string(e.usage.drafted_tokens) + " accepted=" + std::to_string(e.usage.accepted_tokens);
  }
  if (a.config.log_prompts) {
    out += "\n  prompt: " + std::string(prompt_text) + "\n  output: " + std::string(output_text);
  }
  return out;
}

}  // namespace hearth

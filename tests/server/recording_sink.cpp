#include "recording_sink.h"

#include <atomic>

namespace hearth::test {

namespace {
std::atomic<int64_t> event_order{0};
}  // namespace

bool recording_sink::on_token(const token_event& e) {
  int n;
  {
    std::lock_guard lock(mu_);
    if (r_.finishes > 0) ++r_.tokens_after_finish;
    if (r_.tokens.empty()) r_.first_token_order = event_order++;
    r_.tokens.push_back(e.id);
    r_.pieces.push_back(e.text);
    r_.text += e.text;
    n = static_cast<int>(r_.tokens.size());
  }
  cv_.notify_all();
  const bool taken = hook ? hook(n) : true;
  if (!taken) {
    std::lock_guard lock(mu_);
    r_.refused.push_back(r_.tokens.back());
    r_.tokens.pop_back();
    r_.text.resize(r_.text.size() - r_.pieces.back().size());
    r_.pieces.pop_back();
  }
  return taken;
}

void recording_sink::on_finish(const finish_event& e) {
  {
    std::lock_guard lock(mu_);
    ++r_.finishes;
    r_.finish = e;
    r_.text += e.text;
    r_.finish_order = event_order++;
  }
  cv_.notify_all();
}

sink_record recording_sink::wait_finish() const {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return r_.finishes > 0; });
  return r_;
}

void recording_sink::wait_tokens(int n) const {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return static_cast<int>(r_.tokens.size()) >= n || r_.finishes > 0; });
}

void recording_sink::wait_steered(size_t n) const {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return r_.steered.size() >= n || r_.finishes > 0; });
}

sink_record recording_sink::snapshot() const {
  std::lock_guard lock(mu_);
  return r_;
}

}  // namespace hearth::test

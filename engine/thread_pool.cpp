#include "thread_pool.h"

#include <immintrin.h>

#include <chrono>

namespace hearth {

namespace {

using clock_type = std::chrono::steady_clock;

// How long an idle worker polls for the next job before it sleeps on the futex: longer than the
// gap between the ops of one forward pass, far shorter than the gap between requests.
constexpr auto spin_budget = std::chrono::microseconds(200);

// One polling step. After a short burst of pauses it yields the core, so that on an
// oversubscribed machine (more runnable threads than cores) a spinning thread does not hold the
// CPU that the thread it waits for needs.
void relax(int& spins) {
  if (++spins < 2048) {
    _mm_pause();
  } else {
    std::this_thread::yield();
  }
}

}  // namespace

thread_pool::thread_pool(int n_threads) {
  for (int t = 1; t < n_threads; ++t) workers_.emplace_back([this] { worker_loop(); });
}

thread_pool::~thread_pool() {
  stop_.store(true);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void thread_pool::drain() {
  int64_t finished = 0;
  for (;;) {
    int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= n_tasks_) break;
    call_(ctx_, i);
    ++finished;
  }
  if (finished) done_.fetch_add(finished, std::memory_order_acq_rel);
}

void thread_pool::run(int64_t n_tasks, void* ctx, task_fn call) {
  ctx_ = ctx;
  call_ = call;
  n_tasks_ = n_tasks;
  next_.store(0, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  checked_in_.store(0, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  drain();
  // Every worker checks in before we return, so none can still be reading this job's fields
  // when the next job overwrites them.
  const int64_t workers = static_cast<int64_t>(workers_.size());
  int spins = 0;
  while (done_.load(std::memory_order_acquire) < n_tasks ||
         checked_in_.load(std::memory_order_acquire) < workers) {
    relax(spins);
  }
}

void thread_pool::worker_loop() {
  uint32_t seen = 0;
  for (;;) {
    uint32_t g = generation_.load(std::memory_order_acquire);
    if (g == seen) {
      const auto deadline = clock_type::now() + spin_budget;
      int spins = 0;
      while (g == seen && (spins % 64 != 0 || clock_type::now() < deadline)) {
        relax(spins);
        g = generation_.load(std::memory_order_acquire);
      }
    }
    if (g == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = g;
    if (stop_.load()) return;
    drain();
    checked_in_.fetch_add(1, std::memory_order_acq_rel);
  }
}

}  // namespace hearth

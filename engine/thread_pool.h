#pragma once
// A persistent pool of compute threads. parallel_for hands out task indices from an atomic
// counter; the calling thread works too. Idle workers spin briefly, then sleep on a futex
// (std::atomic::wait), so a steady stream of small ops never pays for thread creation or a
// syscall, and an idle daemon uses no CPU.
//
// Thread-safety: one caller at a time (the scheduler thread owns its pool). Tasks must not throw.
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace hearth {

class thread_pool {
 public:
  // n_threads counts the caller: 1 means no worker threads.
  explicit thread_pool(int n_threads);
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(i) for every i in [0, n_tasks), spread over the pool; returns when all are done.
  template <class F>
  void parallel_for(int64_t n_tasks, F&& fn) {
    if (n_tasks <= 0) return;
    if (n_tasks == 1 || workers_.empty()) {
      for (int64_t i = 0; i < n_tasks; ++i) fn(i);
      return;
    }
    using fn_t = std::remove_reference_t<F>;
    run(n_tasks, const_cast<void*>(static_cast<const void*>(&fn)),
        [](void* ctx, int64_t i) { (*static_cast<fn_t*>(ctx))(i); });
  }

 private:
  using task_fn = void (*)(void*, int64_t);
  void run(int64_t n_tasks, void* ctx, task_fn call);
  void worker_loop();
  void drain();

  std::vector<std::thread> workers_;
  // The job being run; published by bumping generation_.
  void* ctx_ = nullptr;
  task_fn call_ = nullptr;
  int64_t n_tasks_ = 0;
  alignas(64) std::atomic<int64_t> next_{0};
  alignas(64) std::atomic<int64_t> done_{0};
  alignas(64) std::atomic<int64_t> checked_in_{0};
  alignas(64) std::atomic<uint32_t> generation_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace hearth

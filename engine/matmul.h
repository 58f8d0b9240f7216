#pragma once
// y = x · wᵀ for a batch of activation rows, on the thread pool, with the active kernel set.
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "checked_size.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "thread_pool.h"

namespace hearth {

struct matmul_job {
  const weight* w;
  float* y;  // m rows of w->rows outputs
};

class matmul_runner {
 public:
  matmul_runner(thread_pool& pool, const kernels::kernel_set& ks) : pool_(pool), ks_(ks) {}

  // y[i * w.rows + j] = dot(x[i * w.cols ...], w row j) for i < m. x is m rows of w.cols floats.
  void run(const weight& w, const float* x, int64_t m, float* y) {
    const matmul_job job{&w, y};
    run(std::span(&job, 1), x, m);
  }
  // Several matmuls of the same input (Q, K and V; gate and up): x is converted once per
  // activation format, and one parallel_for runs the tasks of all of them.
  //
  // Below stream_rows activation rows a matmul is a stream of its weights: every thread owns one
  // contiguous share of the jobs' 16-row units and takes it in order (one stream each, whose
  // prefetching a task boundary would restart), and a thread that runs out takes the far half
  // of what another has left. From stream_rows up it is compute-bound: tasks of a few units
  // each, which keep each task's weights in cache across the kernels' activation tiles.
  void run(std::span<const matmul_job> jobs, const float* x, int64_t m);
  static constexpr int64_t stream_rows = 4;

  // Bytes of converted activations run() keeps at most for m rows of at most `cols` columns.
  static checked_size activation_bytes(int64_t m, int64_t cols);

  const kernels::kernel_set& kernels() const { return ks_; }
  thread_pool& pool() { return pool_; }

 private:
  struct task {
    int32_t job;
    int32_t input;               // index into inputs_
    int64_t row_begin, row_end;  // output rows (weight rows) of this task
  };
  // x in one activation format: the caller's floats, or a converted copy in `buffer`.
  struct input {
    kernels::act_format format;
    const void* x = nullptr;
    size_t stride = 0;
    std::vector<uint8_t> buffer;
  };
  // The input of `fmt` for this run, converting x on first use (inputs_[0, used) are this run's).
  int32_t input_for(kernels::act_format fmt, const float* x, int64_t m, int64_t cols, size_t& used);
  void run_task(const matmul_job& job, const task& t, int64_t m) const;
  // The stream split (see run): units [u0, u1) of the concatenated jobs.
  void run_stream(std::span<const matmul_job> jobs, int64_t m);
  void run_units(std::span<const matmul_job> jobs, int64_t u0, int64_t u1, int64_t m) const;

  thread_pool& pool_;
  const kernels::kernel_set& ks_;
  std::vector<input> inputs_;  // one per activation format a run needed; buffers kept for reuse
  std::vector<task> tasks_;
  // The stream split: tasks_[j] is job j's whole row range, unit_begin_[j] its first unit in the
  // concatenation (and unit_begin_[jobs] their total); each thread's share left, as its first
  // and end unit packed in one word (begin << 32 | end), so owner and thief claim by one CAS.
  struct alignas(64) share {  // a cache line each: a claim does not disturb the other owners
    std::atomic<uint64_t> left;
  };
  std::vector<int64_t> unit_begin_;
  std::unique_ptr<share[]> shares_;
  int shares_size_ = 0;
};

}  // namespace hearth

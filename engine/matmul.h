#pragma once
// y = x · wᵀ for a batch of activation rows, on the thread pool, with the active kernel set.
#include <cstdint>
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
  void run(std::span<const matmul_job> jobs, const float* x, int64_t m);

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

  thread_pool& pool_;
  const kernels::kernel_set& ks_;
  std::vector<input> inputs_;  // one per activation format a run needed; buffers kept for reuse
  std::vector<task> tasks_;
};

}  // namespace hearth

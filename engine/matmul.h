#pragma once
// y = x · wᵀ for a batch of activation rows, on the thread pool, with the active kernel set.
#include <cstdint>
#include <vector>

#include "kernels/kernels.h"
#include "model/model.h"
#include "thread_pool.h"

namespace hearth {

class matmul_runner {
 public:
  matmul_runner(thread_pool& pool, const kernels::kernel_set& ks) : pool_(pool), ks_(ks) {}

  // y[i * w.rows + j] = dot(x[i * w.cols ...], w row j) for i < m. x is m rows of w.cols floats.
  void run(const weight& w, const float* x, int64_t m, float* y);

  const kernels::kernel_set& kernels() const { return ks_; }

 private:
  void run_packed(const weight& w, const void* x, size_t x_stride, int64_t m, float* y);

 public:
  thread_pool& pool() { return pool_; }

 private:
  thread_pool& pool_;
  const kernels::kernel_set& ks_;
  std::vector<uint8_t> act_;  // x converted to the weight type's activation format
};

}  // namespace hearth

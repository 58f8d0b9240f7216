#include "matmul.h"

#include <algorithm>

#include "kernels/quant_blocks.h"

namespace hearth {

void matmul_runner::run(const weight& w, const float* x, int64_t m, float* y) {
  const kernels::act_format fmt = kernels::act_format_of(w.type);
  const void* xa = x;
  size_t x_stride = static_cast<size_t>(w.cols) * sizeof(float);
  if (kernels::convert_fn convert = kernels::convert_for(ks_, fmt)) {
    x_stride = kernels::act_row_bytes(fmt, w.cols);
    if (act_.size() < x_stride * m) act_.resize(x_stride * m);
    uint8_t* dst = act_.data();
    const int64_t cols = w.cols;
    pool_.parallel_for(m, [&](int64_t i) { convert(x + i * cols, dst + i * x_stride, cols); });
    xa = dst;
  }
  const int64_t n = w.rows;
  if (w.packed) return run_packed(w, xa, x_stride, m, y);
  // Split the output rows into tasks: several per thread so uneven progress evens out, and a
  // multiple of 16 rows so SIMD kernels tile cleanly.
  const int64_t target_tasks = static_cast<int64_t>(pool_.size()) * 4;
  int64_t chunk = std::max<int64_t>(16, (n + target_tasks - 1) / target_tasks);
  chunk = (chunk + 15) / 16 * 16;
  const int64_t n_tasks = (n + chunk - 1) / chunk;
  kernels::gemm_fn gemm = kernels::gemm_for(ks_, w.type);
  pool_.parallel_for(n_tasks, [&](int64_t t) {
    int64_t j0 = t * chunk;
    int64_t nj = std::min(chunk, n - j0);
    gemm(w.cols, w.data + j0 * w.row_bytes, w.row_bytes, nj, xa, x_stride, m, y + j0, n);
  });
}

}  // namespace hearth

namespace hearth {

// Tasks are ranges of 16-row groups, several per thread.
void matmul_runner::run_packed(const weight& w, const void* x, size_t x_stride, int64_t m, float* y) {
  const int64_t n = w.rows;
  const int64_t groups = (n + pack_rows - 1) / pack_rows;
  const int64_t target_tasks = static_cast<int64_t>(pool_.size()) * 4;
  const int64_t chunk = std::max<int64_t>(1, (groups + target_tasks - 1) / target_tasks);
  const int64_t n_tasks = (groups + chunk - 1) / chunk;
  kernels::gemm_fn gemm = w.type == ggml_type::q4_0 ? ks_.gemm_q4_0_packed : ks_.gemm_q8_0_packed;
  pool_.parallel_for(n_tasks, [&](int64_t t) {
    const int64_t g0 = t * chunk;
    const int64_t rows = std::min(chunk * pack_rows, n - g0 * pack_rows);
    gemm(w.cols, w.packed + g0 * w.packed_group_bytes, w.packed_group_bytes, rows, x, x_stride, m,
         y + g0 * pack_rows, n);
  });
}

}  // namespace hearth

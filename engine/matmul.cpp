#include "matmul.h"

#include <algorithm>

#include "kernels/quant_blocks.h"

namespace hearth {

checked_size matmul_runner::activation_bytes(int64_t m, int64_t cols) {
  checked_size row;
  for (kernels::act_format f : {kernels::act_format::f16, kernels::act_format::bf16, kernels::act_format::q8}) {
    row += kernels::act_row_bytes(f, cols);
  }
  return row * m;
}

const void* matmul_runner::activations(kernels::act_format fmt, const float* x, int64_t m, int64_t cols,
                                       size_t& stride) {
  kernels::convert_fn convert = kernels::convert_for(ks_, fmt);
  if (!convert) {
    stride = static_cast<size_t>(cols) * sizeof(float);
    return x;
  }
  stride = kernels::act_row_bytes(fmt, cols);
  std::vector<uint8_t>& buf = act_[static_cast<int>(fmt)];
  if (buf.size() < stride * m) buf.resize(stride * m);
  uint8_t* dst = buf.data();
  pool_.parallel_for(m, [&](int64_t i) { convert(x + i * cols, dst + i * stride, cols); });
  return dst;
}

void matmul_runner::run_task(const matmul_job& job, const task& t, const void* x, size_t x_stride, int64_t m) const {
  const weight& w = *job.w;
  const int64_t rows = t.row_end - t.row_begin;
  if (w.packed) {
    const kernels::gemm_fn gemm = w.type == ggml_type::q4_0 ? ks_.gemm_q4_0_packed : ks_.gemm_q8_0_packed;
    gemm(w.cols, w.packed + (t.row_begin / pack_rows) * w.packed_group_bytes, w.packed_group_bytes, rows, x, x_stride,
         m, job.y + t.row_begin, w.rows);
  } else {
    kernels::gemm_for(ks_, w.type, w.cols)(w.cols, w.data + t.row_begin * w.row_bytes, w.row_bytes, rows, x, x_stride, m,
                                   job.y + t.row_begin, w.rows);
  }
}

void matmul_runner::run(std::span<const matmul_job> jobs, const float* x, int64_t m) {
  // Inputs, converted once per format. (All jobs share x, so they share its columns.)
  const void* xa[4] = {};
  size_t stride[4] = {};
  for (const matmul_job& j : jobs) {
    const int f = static_cast<int>(kernels::act_format_of(j.w->type));
    if (!xa[f]) xa[f] = activations(kernels::act_format_of(j.w->type), x, m, j.w->cols, stride[f]);
  }
  // Tasks of 16-row units, sized so the pool has several per thread: uneven progress evens out,
  // and SIMD kernels (and packed groups) tile cleanly.
  int64_t units = 0;
  for (const matmul_job& j : jobs) units += (j.w->rows + pack_rows - 1) / pack_rows;
  const int64_t target = static_cast<int64_t>(pool_.size()) * 4;
  const int64_t chunk = std::max<int64_t>(1, (units + target - 1) / target) * pack_rows;
  tasks_.clear();
  for (size_t j = 0; j < jobs.size(); ++j) {
    for (int64_t r = 0; r < jobs[j].w->rows; r += chunk) {
      tasks_.push_back({static_cast<int32_t>(j), r, std::min(r + chunk, jobs[j].w->rows)});
    }
  }
  pool_.parallel_for(static_cast<int64_t>(tasks_.size()), [&](int64_t i) {
    const task& t = tasks_[i];
    const int f = static_cast<int>(kernels::act_format_of(jobs[t.job].w->type));
    run_task(jobs[t.job], t, xa[f], stride[f], m);
  });
}

}  // namespace hearth

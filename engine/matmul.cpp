#include "matmul.h"

#include <algorithm>

#include "kernels/quant_blocks.h"

namespace hearth {

// An upper bound: a buffer for every converted format, as if one run needed them all.
checked_size matmul_runner::activation_bytes(int64_t m, int64_t cols) {
  checked_size row;
  for (int f = 0; f < kernels::act_format_count; ++f) {
    const auto fmt = static_cast<kernels::act_format>(f);
    if (fmt != kernels::act_format::f32) row += kernels::act_row_bytes(fmt, cols);
  }
  return row * m;
}

int32_t matmul_runner::input_for(kernels::act_format fmt, const float* x, int64_t m, int64_t cols, size_t& used) {
  for (size_t i = 0; i < used; ++i) {
    if (inputs_[i].format == fmt) return static_cast<int32_t>(i);
  }
  // Reuse the buffer that held this format last time when there is one, so it keeps its size.
  size_t slot = used;
  for (size_t i = used; i < inputs_.size(); ++i) {
    if (inputs_[i].format == fmt) slot = i;
  }
  if (slot == inputs_.size()) inputs_.push_back(input{fmt});
  std::swap(inputs_[used], inputs_[slot]);
  input& in = inputs_[used];
  const kernels::convert_fn convert = kernels::convert_for(ks_, fmt);
  if (!convert) {
    in.x = x;
    in.stride = static_cast<size_t>(cols) * sizeof(float);
  } else {
    in.stride = kernels::act_row_bytes(fmt, cols);
    if (in.buffer.size() < in.stride * m) in.buffer.resize(in.stride * m);
    uint8_t* dst = in.buffer.data();
    const size_t stride = in.stride;
    pool_.parallel_for(m, [&](int64_t i) { convert(x + i * cols, dst + i * stride, cols); });
    in.x = dst;
  }
  return static_cast<int32_t>(used++);
}

void matmul_runner::run_task(const matmul_job& job, const task& t, int64_t m) const {
  const weight& w = *job.w;
  const input& in = inputs_[t.input];
  const int64_t rows = t.row_end - t.row_begin;
  if (w.packed) {
    kernels::gemm_packed_for(ks_, w.type)(w.cols, w.packed + (t.row_begin / pack_rows) * w.packed_group_bytes,
                                          w.packed_group_bytes, rows, in.x, in.stride, m, job.y + t.row_begin, w.rows);
  } else {
    kernels::gemm_for(ks_, w.type, w.cols)(w.cols, w.data + t.row_begin * w.row_bytes, w.row_bytes, rows, in.x,
                                           in.stride, m, job.y + t.row_begin, w.rows);
  }
}

void matmul_runner::run_units(std::span<const matmul_job> jobs, int64_t u0, int64_t u1, int64_t m) const {
  for (size_t j = 0; j < jobs.size() && u0 < u1; ++j) {
    const int64_t begin = unit_begin_[j], end = unit_begin_[j + 1];
    if (u0 >= end) continue;
    const int64_t last = std::min(u1, end);
    const task& whole = tasks_[j];
    const task t{whole.job, whole.input, (u0 - begin) * pack_rows, std::min((last - begin) * pack_rows, whole.row_end)};
    run_task(jobs[j], t, m);
    u0 = last;
  }
}

void matmul_runner::run_stream(std::span<const matmul_job> jobs, int64_t m) {
  const int threads = pool_.size();
  if (shares_size_ < threads) {
    shares_ = std::make_unique<share[]>(static_cast<size_t>(threads));
    shares_size_ = threads;
  }
  const int64_t units = unit_begin_.back();
  for (int t = 0; t < threads; ++t) {
    const uint64_t b = static_cast<uint64_t>(units * t / threads), e = static_cast<uint64_t>(units * (t + 1) / threads);
    shares_[t].left.store(b << 32 | e, std::memory_order_relaxed);
  }
  // The owner claims from the front of its share (its stream goes on unbroken) a quarter of what
  // it has left, at most 8 units and at least 1, so claims are few but the last ones small; a
  // thief claims the back half of the largest share left.
  pool_.parallel_for(threads, [&](int64_t self) {
    for (;;) {
      std::atomic<uint64_t>& own = shares_[self].left;
      uint64_t cur = own.load(std::memory_order_relaxed);
      uint64_t b = cur >> 32, e = cur & 0xffffffffu;
      if (b < e) {
        const uint64_t c = std::clamp<uint64_t>((e - b) / 4, 1, 8);
        if (!own.compare_exchange_weak(cur, (b + c) << 32 | e, std::memory_order_relaxed)) continue;
        run_units(jobs, static_cast<int64_t>(b), static_cast<int64_t>(b + c), m);
        continue;
      }
      int victim = -1;
      uint64_t most = 0;
      for (int t = 0; t < threads; ++t) {
        const uint64_t v = shares_[t].left.load(std::memory_order_relaxed);
        const uint64_t left = (v & 0xffffffffu) - std::min(v >> 32, v & 0xffffffffu);
        if (left > most) most = left, victim = t;
      }
      if (victim < 0) return;
      std::atomic<uint64_t>& other = shares_[victim].left;
      cur = other.load(std::memory_order_relaxed);
      b = cur >> 32, e = cur & 0xffffffffu;
      if (b >= e) continue;
      const uint64_t c = (e - b + 1) / 2;
      if (!other.compare_exchange_weak(cur, b << 32 | (e - c), std::memory_order_relaxed)) continue;
      // The claimed units are now this thread's share, taken in order like its own.
      own.store((e - c) << 32 | e, std::memory_order_relaxed);
    }
  });
}

void matmul_runner::run(std::span<const matmul_job> jobs, const float* x, int64_t m) {
  if (m < stream_rows && pool_.size() > 1) {
    tasks_.clear();
    unit_begin_.assign(1, 0);
    size_t used = 0;
    for (size_t j = 0; j < jobs.size(); ++j) {
      const weight& w = *jobs[j].w;
      const int32_t in = input_for(kernels::act_format_of(w.type), x, m, w.cols, used);
      tasks_.push_back({static_cast<int32_t>(j), in, 0, w.rows});
      unit_begin_.push_back(unit_begin_.back() + (w.rows + pack_rows - 1) / pack_rows);
    }
    return run_stream(jobs, m);
  }
  // Tasks of 16-row units, sized so the pool has several per thread: uneven progress evens out,
  // and SIMD kernels (and packed groups) tile cleanly. Inputs are converted once per format.
  // (All jobs share x, so they share its columns.)
  int64_t units = 0;
  for (const matmul_job& j : jobs) units += (j.w->rows + pack_rows - 1) / pack_rows;
  const int64_t target = static_cast<int64_t>(pool_.size()) * 4;
  const int64_t chunk = std::max<int64_t>(1, (units + target - 1) / target) * pack_rows;
  tasks_.clear();
  size_t used = 0;
  for (size_t j = 0; j < jobs.size(); ++j) {
    const weight& w = *jobs[j].w;
    const int32_t in = input_for(kernels::act_format_of(w.type), x, m, w.cols, used);
    for (int64_t r = 0; r < w.rows; r += chunk) {
      tasks_.push_back({static_cast<int32_t>(j), in, r, std::min(r + chunk, w.rows)});
    }
  }
  pool_.parallel_for(static_cast<int64_t>(tasks_.size()), [&](int64_t i) { run_task(jobs[tasks_[i].job], tasks_[i], m); });
}

}  // namespace hearth

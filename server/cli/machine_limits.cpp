#include "cli/machine_limits.h"

#include <cblas.h>
#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "kernels/cpu_features.h"

namespace hearth::cli {

namespace {

using clock_type = std::chrono::steady_clock;

// The kernels' own rule (CPUID and OS-enabled register state), so no path here runs where
// the kernels would not.
const kernels::simd_support& simd() {
  static const kernels::simd_support s = kernels::simd_support_of(kernels::read_cpu_id());
  return s;
}

bool has_avx512() { return simd().avx512; }

float sum_plain(const float* p, size_t n) {
  float t = 0;
  for (size_t i = 0; i < n; ++i) t += p[i];
  return t;
}

__attribute__((target("avx512f"))) float sum_avx512(const float* p, size_t n) {
  __m512 a[8];
  for (auto& v : a) v = _mm512_setzero_ps();
  for (size_t i = 0; i + 128 <= n; i += 128) {
    for (int k = 0; k < 8; ++k) a[k] = _mm512_add_ps(a[k], _mm512_load_ps(p + i + 16 * k));
  }
  for (int k = 1; k < 8; ++k) a[0] = _mm512_add_ps(a[0], a[k]);
  alignas(64) float out[16];
  _mm512_store_ps(out, a[0]);
  float t = 0;
  for (float f : out) t += f;
  return t;
}

__attribute__((target("avx2"))) float sum_avx2(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
  float out[8];
  _mm256_storeu_ps(out, s);
  float t = 0;
  for (float f : out) t += f;
  return t;
}

// Runs fn(thread_index) on `threads` threads at once; returns the wall time in seconds.
template <class F>
double timed_parallel(int threads, F fn) {
  std::vector<std::thread> ts;
  auto t0 = clock_type::now();
  for (int t = 0; t < threads; ++t) ts.emplace_back(fn, t);
  for (auto& t : ts) t.join();
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Best of 5 passes over 1 GiB, split across the threads.
double read_bandwidth(int threads) {
  const size_t bytes = size_t{1} << 30, n = bytes / sizeof(float);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 0;
  madvise(mem, bytes, MADV_HUGEPAGE);  // fewer TLB misses, as a streaming kernel would see
  auto* p = static_cast<float*>(mem);
  for (size_t i = 0; i < n; i += 1024) p[i] = 1.0f;  // commit every page
  const bool wide = has_avx512();
  double best = 1e30;
  volatile float sink = 0;
  for (int pass = 0; pass < 5; ++pass) {
    best = std::min(best, timed_parallel(threads, [&](int t) {
      const size_t chunk = n / threads;
      const float* q = p + t * chunk;
      sink = sink + (wide ? sum_avx512(q, chunk) : simd().avx2 ? sum_avx2(q, chunk) : sum_plain(q, chunk));
    }));
  }
  munmap(mem, bytes);
  return static_cast<double>(bytes) / best / 1e9;
}

constexpr int64_t peak_iterations = 50'000'000;

__attribute__((target("avx512f,avx512bw,avx512vnni"))) int64_t int8_chains_avx512() {
  __m512i acc[16];
  for (int k = 0; k < 16; ++k) acc[k] = _mm512_set1_epi32(k);
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  for (int64_t i = 0; i < peak_iterations; ++i) {
    for (int k = 0; k < 16; ++k) acc[k] = _mm512_dpbusd_epi32(acc[k], a, b);
  }
  alignas(64) int32_t out[16];
  int64_t s = 0;
  for (int k = 0; k < 16; ++k) {
    _mm512_store_si512(out, acc[k]);
    for (int32_t v : out) s += v;
  }
  return s;
}

__attribute__((target("avx512f"))) float fma_chains_avx512() {
  __m512 acc[12];
  for (int k = 0; k < 12; ++k) acc[k] = _mm512_set1_ps(static_cast<float>(k));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
  for (int64_t i = 0; i < peak_iterations; ++i) {
    for (int k = 0; k < 12; ++k) acc[k] = _mm512_fmadd_ps(acc[k], a, b);
  }
  alignas(64) float out[16];
  float s = 0;
  for (int k = 0; k < 12; ++k) {
    _mm512_store_ps(out, acc[k]);
    for (float v : out) s += v;
  }
  return s;
}

// OpenBLAS sgemm on a prompt-sized product (128 x 2048 x 2048): the float GEMM to beat.
double openblas_sgemm_gflops(int threads) {
  constexpr int m = 128, n = 2048, k = 2048;
  std::vector<float> a(m * k, 0.01f), b(n * k, 0.02f), c(m * n);
  openblas_set_num_threads(threads);
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = clock_type::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
    best = std::min(best, std::chrono::duration<double>(clock_type::now() - t0).count());
  }
  return 2.0 * m * n * k / best / 1e9;
}

}  // namespace

int print_machine_limits(int threads, bool json) {
  const double bw1 = read_bandwidth(1), bw = read_bandwidth(threads);
  double int8 = 0, int8_1 = 0, f32 = 0, f32_1 = 0;
  if (has_avx512()) {
    volatile int64_t sink_i = 0;
    volatile float sink_f = 0;
    const double macs_i = static_cast<double>(peak_iterations) * 16 * 64 * 2;  // ops per thread
    const double macs_f = static_cast<double>(peak_iterations) * 12 * 16 * 2;
    int8_1 = macs_i / timed_parallel(1, [&](int) { sink_i = sink_i + int8_chains_avx512(); }) / 1e9;
    int8 = macs_i * threads / timed_parallel(threads, [&](int) { sink_i = sink_i + int8_chains_avx512(); }) / 1e9;
    f32_1 = macs_f / timed_parallel(1, [&](int) { sink_f = sink_f + fma_chains_avx512(); }) / 1e9;
    f32 = macs_f * threads / timed_parallel(threads, [&](int) { sink_f = sink_f + fma_chains_avx512(); }) / 1e9;
  }
  const double blas = openblas_sgemm_gflops(threads), blas1 = openblas_sgemm_gflops(1);
  if (json) {
    std::printf("{\"threads\":%d,\"read_gb_s\":%.2f,\"read_gb_s_1t\":%.2f,\"int8_gops\":%.0f,\"int8_gops_1t\":%.0f,"
                "\"fp32_gflops\":%.0f,\"fp32_gflops_1t\":%.0f,\"openblas_sgemm_gflops\":%.0f,"
                "\"openblas_sgemm_gflops_1t\":%.0f}\n",
                threads, bw, bw1, int8, int8_1, f32, f32_1, blas, blas1);
  } else {
    std::printf("| resource | %d threads | 1 thread |\n| --- | ---: | ---: |\n", threads);
    std::printf("| read bandwidth (streaming sum over 1 GiB) | %.1f GB/s | %.1f GB/s |\n", bw, bw1);
    if (int8 > 0) {
      std::printf("| int8 dot (vpdpbusd zmm, 16 chains) | %.0f GOPS | %.0f GOPS |\n", int8, int8_1);
      std::printf("| fp32 FMA (zmm, 12 chains) | %.0f GFLOPS | %.0f GFLOPS |\n", f32, f32_1);
    }
    std::printf("| OpenBLAS sgemm 128x2048x2048 | %.0f GFLOPS | %.0f GFLOPS |\n", blas, blas1);
  }
  return 0;
}

}  // namespace hearth::cli

// matmul_runner's work splits: every output row is computed once, by the same kernel, whichever
// thread takes it and however the rows were split (few activation rows: contiguous shares that
// idle threads take from; more: tasks of a few units).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "matmul.h"
#include "thread_pool.h"

using namespace hearth;

namespace {

struct f32_matrix {
  std::vector<float> values;
  weight w;
  f32_matrix(int64_t rows, int64_t cols, std::mt19937& rng) : values(static_cast<size_t>(rows * cols)) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (float& v : values) v = u(rng);
    w.type = ggml_type::f32;
    w.data = reinterpret_cast<const uint8_t*>(values.data());
    w.rows = rows;
    w.cols = cols;
    w.row_bytes = static_cast<size_t>(cols) * sizeof(float);
  }
};

}  // namespace

TEST_CASE("matmul_runner: every split gives the one-thread rows, bit for bit, and the dot products", "[matmul]") {
  std::mt19937 rng(7);
  const int64_t cols = 96;
  // Row counts that are not whole 16-row units, and jobs of very different sizes, so shares
  // cross job boundaries and end inside a unit.
  f32_matrix a(1000, cols, rng), b(37, cols, rng), c(257, cols, rng);
  const auto& ks = kernels::active();
  for (int64_t m : {1, 2, 3, 4, 9}) {
    std::vector<float> x(static_cast<size_t>(m * cols));
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (float& v : x) v = u(rng);
    auto run = [&](thread_pool& pool) {
      matmul_runner mm(pool, ks);
      std::vector<float> ya(static_cast<size_t>(m * a.w.rows), NAN), yb(static_cast<size_t>(m * b.w.rows), NAN),
          yc(static_cast<size_t>(m * c.w.rows), NAN);
      const matmul_job jobs[] = {{&a.w, ya.data()}, {&b.w, yb.data()}, {&c.w, yc.data()}};
      mm.run(jobs, x.data(), m);
      std::vector<float> all = ya;
      all.insert(all.end(), yb.begin(), yb.end());
      all.insert(all.end(), yc.begin(), yc.end());
      return all;
    };
    thread_pool one(1);
    const std::vector<float> expected = run(one);
    // From first principles: each output is its row's dot product (float rounding aside).
    int64_t off = 0;
    for (const f32_matrix* mat : {&a, &b, &c}) {
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t r = 0; r < mat->w.rows; ++r) {
          double dot = 0;
          for (int64_t k = 0; k < cols; ++k) dot += double(x[i * cols + k]) * mat->values[r * cols + k];
          REQUIRE(std::fabs(expected[off + i * mat->w.rows + r] - dot) < 1e-4);
        }
      }
      off += m * mat->w.rows;
    }
    for (int threads : {2, 3, 4}) {
      thread_pool pool(threads);
      // Many runs: threads start at different moments, so shares are taken over in varied ways.
      for (int rep = 0; rep < 100; ++rep) {
        const std::vector<float> got = run(pool);
        INFO("m " << m << ", threads " << threads << ", run " << rep);
        REQUIRE(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);
      }
    }
  }
}

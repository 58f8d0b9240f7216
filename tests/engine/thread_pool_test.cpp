#include <catch2/catch.hpp>

#include <atomic>
#include <vector>

#include "thread_pool.h"

using namespace hearth;

TEST_CASE("thread_pool runs every task exactly once, job after job", "[thread_pool]") {
  for (int threads : {1, 2, 4}) {
    thread_pool pool(threads);
    CHECK(pool.size() == threads);
    for (int64_t n : {0, 1, 2, 3, 17, 1000}) {
      for (int rep = 0; rep < 50; ++rep) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(n, [&](int64_t i) { hits[i].fetch_add(1); });
        for (int64_t i = 0; i < n; ++i) REQUIRE(hits[i].load() == 1);
      }
    }
  }
}

TEST_CASE("thread_pool results are visible to the caller after parallel_for", "[thread_pool]") {
  thread_pool pool(3);
  std::vector<int64_t> out(4096);
  for (int rep = 0; rep < 200; ++rep) {
    pool.parallel_for(static_cast<int64_t>(out.size()), [&](int64_t i) { out[i] = i * rep; });
    int64_t sum = 0;
    for (int64_t v : out) sum += v;
    REQUIRE(sum == rep * (4095 * 4096 / 2));
  }
}

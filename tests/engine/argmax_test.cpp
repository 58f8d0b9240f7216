// argmax and max_value (row_ops.h): greedy sampling, the draft model's tokens and perplexity's
// top-token agreement all take their token from these, so ties, NaN and the 8-lane grouping are
// pinned here against a plain loop.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "row_ops.h"

using namespace hearth;

namespace {

constexpr float am_nan = std::numeric_limits<float>::quiet_NaN();
constexpr float am_inf = std::numeric_limits<float>::infinity();

// The first index holding the largest non-NaN value, one compare at a time; 0 if none.
int64_t am_plain(const std::vector<float>& x) {
  int64_t best = -1;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isnan(x[i]) && (best < 0 || x[i] > x[static_cast<size_t>(best)])) best = static_cast<int64_t>(i);
  }
  return best < 0 ? 0 : best;
}

}  // namespace

TEST_CASE("argmax: the lowest index among equal maxima, NaN never wins", "[row_ops]") {
  CHECK(argmax(std::vector<float>{1, 3, 3, 2}) == 1);
  CHECK(argmax(std::vector<float>{am_nan, 2, 1}) == 1);
  CHECK(argmax(std::vector<float>{am_nan, 1, am_nan, 5, 5}) == 3);
  CHECK(argmax(std::vector<float>{-am_inf, -am_inf}) == 0);
  CHECK(argmax(std::vector<float>{-am_inf, am_inf, am_inf}) == 1);
  CHECK(argmax(std::vector<float>{am_nan, am_nan}) == 0);
  CHECK(argmax(std::vector<float>{}) == 0);
  CHECK(max_value(std::vector<float>{}) == -am_inf);
  CHECK(max_value(std::vector<float>{am_nan, -1, am_nan}) == -1);
}

TEST_CASE("argmax: every length and position against a plain loop", "[row_ops]") {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(-4, 4);  // few values: many ties
  int wrong = 0;
  for (size_t n = 1; n <= 40; ++n) {
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<float> x(n);
      for (float& v : x) v = static_cast<float>(level(rng));
      if (trial % 5 == 0) x[static_cast<size_t>(trial) % n] = am_nan;
      if (argmax(x) != am_plain(x)) ++wrong;
      const int64_t p = am_plain(x);
      if (!std::isnan(x[static_cast<size_t>(p)]) && max_value(x) != x[static_cast<size_t>(p)]) ++wrong;
    }
  }
  CHECK(wrong == 0);
}

#include "golden_check.h"

#include <algorithm>
#include <cmath>

#include <catch2/catch.hpp>

namespace hearth::test {

float largest_magnitude(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

float range_of(const std::vector<float>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return *hi - *lo;
}

void check_tokens(const std::vector<token_id>& got, const reference_case& c, const reference_logits& ref_at,
                  float tol, const std::vector<allowed_divergence>& allowed) {
  REQUIRE(got.size() == c.greedy_tokens.size());
  size_t k = 0;
  while (k < got.size() && got[k] == c.greedy_tokens[k]) ++k;
  if (k == got.size()) return;
  INFO("greedy tokens part at generated token " << k << " of " << got.size() << ": hearth " << got[k]
                                                << ", reference " << c.greedy_tokens[k]);
  if (std::optional<std::vector<float>> ref = ref_at(k)) {
    const float margin = (*ref)[c.greedy_tokens[k]] - (*ref)[got[k]];
    INFO("the reference ranks its token " << margin << " above hearth's; near-tie bound " << 2 * tol);
    CHECK(margin <= 2 * tol);
    return;
  }
  const bool listed = std::any_of(allowed.begin(), allowed.end(), [&](const allowed_divergence& a) {
    return c.prompt == a.prompt && k == a.at;
  });
  INFO("the reference has no logits at this position to show a near-tie, and it is not listed as allowed");
  CHECK(listed);
}

reference_logits first_only(const reference_case& c) {
  return [&c](size_t k) -> std::optional<std::vector<float>> {
    if (k == 0) return c.first_logits;
    return std::nullopt;
  };
}

}  // namespace hearth::test

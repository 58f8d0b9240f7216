// Sampler tests. Every expected value is computed here from first principles (softmax in double,
// hand-worked penalties, brute-force sorted sets), never taken from the sampler's own output.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "sampler.h"
#include "token_decoder.h"

using namespace hearth;

namespace {

constexpr float inf_f = std::numeric_limits<float>::infinity();
constexpr float nan_f = std::numeric_limits<float>::quiet_NaN();

// Everything off: plain softmax at `temperature`.
sampling_params plain(float temperature, uint64_t seed = 1234) {
  sampling_params p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

// Lowest id among the maxima, NaN ignored.
int32_t reference_argmax(const std::vector<float>& logits) {
  int32_t best = -1;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i])) continue;
    if (best < 0 || logits[i] > logits[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  }
  return best;
}

std::vector<double> reference_softmax(const std::vector<float>& logits, double temperature) {
  double m = -std::numeric_limits<double>::infinity();
  for (float l : logits) m = std::max(m, static_cast<double>(l));
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp((logits[i] - m) / temperature);
  for (double& x : p) x /= sum;
  return p;
}

std::set<int32_t> ids_drawn(const sampling_params& params, const std::vector<float>& logits,
                            int draws) {
  sampler s(params, static_cast<int32_t>(logits.size()));
  std::set<int32_t> seen;
  for (int i = 0; i < draws; ++i) seen.insert(s.sample(logits));
  return seen;
}

// Greedy pick after accepting `history`.
int32_t greedy_after(sampling_params p, const std::vector<int32_t>& history,
                     const std::vector<float>& logits) {
  p.temperature = 0.0f;
  sampler s(p, static_cast<int32_t>(logits.size()));
  for (int32_t t : history) s.accept(t);
  return s.sample(logits);
}

// Counts over `draws` samples must match `expected` probabilities: every count within 5 binomial
// sigmas, and Pearson's chi-square below `chi2_limit` (the 1e-4 upper quantile for the degrees of
// freedom). The seed is fixed, so the outcome is deterministic.
void check_distribution(const sampling_params& params, const std::vector<float>& logits,
                        const std::vector<double>& expected, int draws, double chi2_limit) {
  sampler s(params, static_cast<int32_t>(logits.size()));
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(s.sample(logits))];
  double chi2 = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double mean = draws * expected[i];
    INFO("token " << i << " count " << counts[i] << " expected " << mean);
    if (expected[i] == 0.0) {
      CHECK(counts[i] == 0);
      continue;
    }
    CHECK(std::abs(counts[i] - mean) <= 5.0 * std::sqrt(mean * (1.0 - expected[i])));
    chi2 += (counts[i] - mean) * (counts[i] - mean) / mean;
  }
  INFO("chi-square " << chi2);
  CHECK(chi2 < chi2_limit);
}

}  // namespace

TEST_CASE("sampler: validate accepts the defaults and every boundary value", "[sampler]") {
  CHECK_FALSE(validate(sampling_params{}));
  auto ok = [](auto mutate) {
    sampling_params p;
    mutate(p);
    auto err = validate(p);
    INFO(err.value_or(""));
    return !err.has_value();
  };
  CHECK(ok([](sampling_params& p) { p.temperature = 0.0f; }));
  CHECK(ok([](sampling_params& p) { p.temperature = 1e6f; }));
  CHECK(ok([](sampling_params& p) { p.top_k = 0; }));
  CHECK(ok([](sampling_params& p) { p.top_p = 1.0f; }));
  CHECK(ok([](sampling_params& p) { p.top_p = 1e-6f; }));
  CHECK(ok([](sampling_params& p) { p.min_p = 0.0f; }));
  CHECK(ok([](sampling_params& p) { p.min_p = 1.0f; }));
  CHECK(ok([](sampling_params& p) { p.repeat_penalty = 1e-3f; }));
  CHECK(ok([](sampling_params& p) { p.repeat_last_n = -1; }));
  CHECK(ok([](sampling_params& p) { p.repeat_last_n = 0; }));
  CHECK(ok([](sampling_params& p) { p.presence_penalty = -2.0f; }));
  CHECK(ok([](sampling_params& p) { p.presence_penalty = 2.0f; }));
  CHECK(ok([](sampling_params& p) { p.frequency_penalty = -2.0f; }));
  CHECK(ok([](sampling_params& p) { p.frequency_penalty = 2.0f; }));
}

TEST_CASE("sampler: validate names the field, the allowed range and the bad value", "[sampler]") {
  auto message = [](auto mutate) {
    sampling_params p;
    mutate(p);
    return validate(p).value_or("<accepted>");
  };
  CHECK(message([](sampling_params& p) { p.temperature = -1.0f; }) ==
        "temperature must be >= 0 (got -1)");
  CHECK(message([](sampling_params& p) { p.top_k = -1; }) == "top_k must be >= 0 (got -1)");
  CHECK(message([](sampling_params& p) { p.top_p = 1.5f; }) == "top_p must be in (0, 1] (got 1.5)");
  CHECK(message([](sampling_params& p) { p.top_p = 0.0f; }) == "top_p must be in (0, 1] (got 0)");
  CHECK(message([](sampling_params& p) { p.min_p = -0.5f; }) ==
        "min_p must be in [0, 1] (got -0.5)");
  CHECK(message([](sampling_params& p) { p.min_p = 1.25f; }) ==
        "min_p must be in [0, 1] (got 1.25)");
  CHECK(message([](sampling_params& p) { p.repeat_penalty = 0.0f; }) ==
        "repeat_penalty must be > 0 (got 0)");
  CHECK(message([](sampling_params& p) { p.repeat_penalty = -1.0f; }) ==
        "repeat_penalty must be > 0 (got -1)");
  CHECK(message([](sampling_params& p) { p.repeat_last_n = -2; }) ==
        "repeat_last_n must be >= -1 (got -2)");
  CHECK(message([](sampling_params& p) { p.presence_penalty = 2.5f; }) ==
        "presence_penalty must be in [-2, 2] (got 2.5)");
  CHECK(message([](sampling_params& p) { p.frequency_penalty = -3.0f; }) ==
        "frequency_penalty must be in [-2, 2] (got -3)");
}

TEST_CASE("sampler: validate rejects NaN and infinities in every float field", "[sampler]") {
  struct field { const char* name; float sampling_params::*member; };
  const field fields[] = {
      {"temperature", &sampling_params::temperature},
      {"top_p", &sampling_params::top_p},
      {"min_p", &sampling_params::min_p},
      {"repeat_penalty", &sampling_params::repeat_penalty},
      {"presence_penalty", &sampling_params::presence_penalty},
      {"frequency_penalty", &sampling_params::frequency_penalty},
  };
  for (const field& f : fields) {
    for (float bad : {nan_f, inf_f, -inf_f}) {
      sampling_params p;
      p.*f.member = bad;
      auto err = validate(p);
      INFO(f.name << " = " << bad);
      REQUIRE(err.has_value());
      CHECK(err->rfind(std::string(f.name) + " must be ", 0) == 0);
      const std::string got = std::isnan(bad) ? "(got nan)" : bad > 0 ? "(got inf)" : "(got -inf)";
      CHECK(err->find(got) != std::string::npos);
    }
  }
  sampling_params p;
  p.temperature = inf_f;
  CHECK(validate(p) == "temperature must be a finite number >= 0 (got inf)");
}

TEST_CASE("sampler: sampler refuses invalid construction and bad calls", "[sampler]") {
  sampling_params bad;
  bad.top_p = 2.0f;
  CHECK_THROWS_AS(sampler(bad, 10), std::invalid_argument);
  CHECK_THROWS_AS(sampler(sampling_params{}, 0), std::invalid_argument);
  sampler s(sampling_params{}, 4);
  const std::vector<float> three = {0.0f, 1.0f, 2.0f};
  CHECK_THROWS_AS(s.sample(three), std::invalid_argument);
  CHECK_THROWS_AS(s.accept(4), std::out_of_range);
  CHECK_THROWS_AS(s.accept(-1), std::out_of_range);
}

TEST_CASE("sampler: greedy picks the argmax, lowest id among ties", "[sampler]") {
  sampler s(plain(0.0f), 6);
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, -3.0f};
  CHECK(s.sample(logits) == 1);
  const std::vector<float> all_equal(6, 0.25f);
  CHECK(s.sample(all_equal) == 0);
  const std::vector<float> with_nan = {nan_f, -inf_f, 0.1f, nan_f, 0.2f, -inf_f};
  CHECK(s.sample(with_nan) == 4);
  const std::vector<float> all_masked = {-inf_f, nan_f, -inf_f, -inf_f, nan_f, -inf_f};
  CHECK(s.sample(all_masked) == 0);
}

TEST_CASE("sampler: top_k = 1 equals greedy on random logits at any temperature", "[sampler]") {
  std::mt19937_64 gen(99);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const int32_t n = 500;
  const float temperatures[] = {0.05f, 0.7f, 1.0f, 1.5f, 50.0f};
  for (int round = 0; round < 200; ++round) {
    std::vector<float> logits(n);
    // Quantized so that tied maxima are common; a few masked and NaN entries too.
    for (float& l : logits) l = std::round(normal(gen) * 2.0f) / 2.0f;
    logits[gen() % n] = -inf_f;
    logits[gen() % n] = nan_f;
    const int32_t expected = reference_argmax(logits);

    sampling_params g = plain(0.0f);
    CHECK(sampler(g, n).sample(logits) == expected);
    for (float t : temperatures) {
      sampling_params p = plain(t, gen());
      p.top_k = 1;
      p.top_p = (round % 2) ? 0.5f : 1.0f;
      p.min_p = (round % 3) ? 0.1f : 0.0f;
      sampler s(p, n);
      INFO("round " << round << " temperature " << t);
      CHECK(s.sample(logits) == expected);
      CHECK(s.sample(logits) == expected);
    }
  }
}

TEST_CASE("sampler: same seed gives the same 1000 draws, different seeds differ", "[sampler]") {
  const int32_t n = 64;
  std::mt19937_64 gen(7);
  std::vector<std::vector<float>> steps(1000, std::vector<float>(n));
  for (auto& logits : steps)
    for (float& l : logits) l = static_cast<float>(gen() % 1000) / 1000.0f;

  auto run = [&](uint64_t seed) {
    sampling_params p = plain(1.0f, seed);
    p.repeat_penalty = 1.1f;  // make accept() matter as well
    sampler s(p, n);
    std::vector<int32_t> out;
    for (const auto& logits : steps) {
      out.push_back(s.sample(logits));
      s.accept(out.back());
    }
    return out;
  };
  const auto a = run(42), b = run(42), c = run(43);
  CHECK(a == b);
  size_t differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ += a[i] != c[i];
  // Nearly uniform over 64 tokens: two independent draws agree ~1/64 of the time.
  CHECK(differ > 900);
}

namespace {

// Replays the documented draw with an independent generator: u = (x >> 11) * 2^-53 with x from
// std::mt19937_64(seed); the pick is the first token, in `walk` order, whose cumulative
// probability (`cdf`, parallel to `walk`) exceeds u.
void check_replayed_draws(const sampling_params& params, const std::vector<float>& logits,
                          const std::vector<int32_t>& walk, const std::vector<double>& cdf) {
  sampler s(params, static_cast<int32_t>(logits.size()));
  std::mt19937_64 ref(params.seed);
  for (int i = 0; i < 1000; ++i) {
    const double u = static_cast<double>(ref() >> 11) * 0x1.0p-53;
    size_t pos = 0;
    while (pos + 1 < cdf.size() && !(u < cdf[pos])) ++pos;
    const bool near_boundary = std::abs(u - cdf[pos]) < 1e-6 ||
                               (pos > 0 && std::abs(u - cdf[pos - 1]) < 1e-6);
    if (near_boundary) {
      (void)s.sample(logits);  // within float rounding of a boundary: not decidable here
      continue;
    }
    INFO("seed " << params.seed << " draw " << i << " u " << u);
    REQUIRE(s.sample(logits) == walk[pos]);
  }
}

}  // namespace

TEST_CASE("sampler: draws are the inverse CDF of the top 53 bits of mt19937_64", "[sampler]") {
  for (uint64_t seed : {0ull, 1ull, 0xFFFFFFFFull, 123456789ull}) {
    // Nothing truncated: the walk is in id order.
    const std::vector<float> logits = {std::log(0.1f), std::log(0.2f), std::log(0.3f),
                                       std::log(0.4f)};
    check_replayed_draws(plain(1.0f, seed), logits, {0, 1, 2, 3}, {0.1, 0.3, 0.6, 1.0});
    // top_k cut (id 4): the walk is in total order, most probable first.
    const std::vector<float> shuffled = {std::log(0.3f), std::log(0.1f), std::log(0.4f),
                                         std::log(0.2f), -50.0f};
    sampling_params p = plain(1.0f, seed);
    p.top_k = 4;
    check_replayed_draws(p, shuffled, {2, 0, 3, 1}, {0.4, 0.7, 0.9, 1.0});
  }
}

TEST_CASE("sampler: sampled frequencies match the softmax", "[sampler]") {
  const std::vector<float> logits = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f, 1.5f, -0.5f};
  const int draws = 200000;
  constexpr double chi2_7dof = 29.88;  // P(chi2_7 > 29.88) = 1e-4
  constexpr double chi2_2dof = 18.42;  // P(chi2_2 > x) = exp(-x/2) = 1e-4

  SECTION("temperature 1") {
    check_distribution(plain(1.0f, 2024), logits, reference_softmax(logits, 1.0), draws, chi2_7dof);
  }
  SECTION("temperature 0.5 sharpens: p ~ exp(2 l)") {
    check_distribution(plain(0.5f, 77), logits, reference_softmax(logits, 0.5), draws, chi2_7dof);
  }
  SECTION("top_k 3 then temperature 2: softmax of l/2 over the three best, renormalized") {
    sampling_params p = plain(2.0f, 5);
    p.top_k = 3;
    // The three best are ids 4 (3.0), 1 (2.0), 6 (1.5).
    std::vector<double> expected(8, 0.0);
    const double w4 = std::exp(3.0 / 2), w1 = std::exp(2.0 / 2), w6 = std::exp(1.5 / 2);
    expected[4] = w4 / (w4 + w1 + w6);
    expected[1] = w1 / (w4 + w1 + w6);
    expected[6] = w6 / (w4 + w1 + w6);
    check_distribution(p, logits, expected, draws, chi2_2dof);
  }
}

// Probabilities at shuffled ids. Sorted: id3 .40, id1 .25, id5 .15, id6 .10, id0 .05, id4 .03,
// id2 .02; cumulative .40 .65 .80 .90 .95 .98 1.00.
TEST_CASE("sampler: top_k, top_p and min_p keep exactly the expected tokens", "[sampler]") {
  const double probs[] = {0.05, 0.25, 0.02, 0.40, 0.03, 0.15, 0.10};
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  // A high temperature flattens whatever survives, so every kept token shows up quickly; it is
  // applied after truncation, so it must not change which tokens survive.
  auto kept = [&](auto configure) {
    sampling_params p = plain(10.0f, 31337);
    configure(p);
    return ids_drawn(p, logits, 4000);
  };
  using ids = std::set<int32_t>;
  CHECK(kept([](sampling_params&) {}) == ids{0, 1, 2, 3, 4, 5, 6});
  CHECK(kept([](sampling_params& p) { p.top_k = 2; }) == ids{3, 1});
  CHECK(kept([](sampling_params& p) { p.top_k = 4; }) == ids{3, 1, 5, 6});
  CHECK(kept([](sampling_params& p) { p.top_k = 100; }) == ids{0, 1, 2, 3, 4, 5, 6});
  CHECK(kept([](sampling_params& p) { p.top_p = 0.3f; }) == ids{3});
  CHECK(kept([](sampling_params& p) { p.top_p = 0.5f; }) == ids{3, 1});
  CHECK(kept([](sampling_params& p) { p.top_p = 0.7f; }) == ids{3, 1, 5});
  CHECK(kept([](sampling_params& p) { p.top_p = 0.85f; }) == ids{3, 1, 5, 6});
  CHECK(kept([](sampling_params& p) { p.top_p = 0.97f; }) == ids{3, 1, 5, 6, 0, 4});
  CHECK(kept([](sampling_params& p) { p.min_p = 0.3f; }) == ids{3, 1, 5});       // p >= .12
  CHECK(kept([](sampling_params& p) { p.min_p = 0.2f; }) == ids{3, 1, 5, 6});    // p >= .08
  CHECK(kept([](sampling_params& p) { p.min_p = 0.1f; }) == ids{3, 1, 5, 6, 0}); // p >= .04
  CHECK(kept([](sampling_params& p) { p.min_p = 1.0f; }) == ids{3});
  // top_p after top_k works on the renormalized top 4 (.40 .25 .15 .10 over .90):
  // cumulative .444 .722, so 0.7 keeps two where it keeps three without top_k.
  CHECK(kept([](sampling_params& p) { p.top_k = 4; p.top_p = 0.7f; }) == ids{3, 1});
  CHECK(kept([](sampling_params& p) { p.top_p = 0.85f; p.min_p = 0.3f; }) == ids{3, 1, 5});
  // p >= .28 drops id 1 (.25) but keeps id 3 (.40), which comes after it in id order.
  CHECK(kept([](sampling_params& p) { p.top_p = 0.85f; p.min_p = 0.7f; }) == ids{3});
  CHECK(kept([](sampling_params& p) { p.top_k = 2; p.min_p = 0.2f; }) == ids{3, 1});
}

TEST_CASE("sampler: truncation ties go to lower ids, masked tokens are never drawn", "[sampler]") {
  const std::vector<float> flat(8, 1.0f);
  sampling_params p = plain(1.0f, 3);
  p.top_k = 3;
  CHECK(ids_drawn(p, flat, 2000) == std::set<int32_t>{0, 1, 2});
  p = plain(1.0f, 3);
  p.top_p = 0.3f;  // 3 of 8 equal tokens reach .375
  CHECK(ids_drawn(p, flat, 2000) == std::set<int32_t>{0, 1, 2});
  // Reaching top_p exactly is enough (cumulative >= p): equal weights are exactly 1, so 2 of 8
  // tokens reach 0.25 exactly, and 2 of the top 4 reach 0.5 exactly.
  p.top_p = 0.25f;
  CHECK(ids_drawn(p, flat, 2000) == std::set<int32_t>{0, 1});
  p.top_k = 4;
  p.top_p = 0.5f;
  CHECK(ids_drawn(p, flat, 2000) == std::set<int32_t>{0, 1});

  const std::vector<float> masked = {0.0f, -inf_f, 0.0f, nan_f, -inf_f};
  CHECK(ids_drawn(plain(1.0f), masked, 2000) == std::set<int32_t>{0, 2});
  const std::vector<float> all_masked = {-inf_f, nan_f, -inf_f};
  CHECK(ids_drawn(plain(1.0f), all_masked, 50) == std::set<int32_t>{0});
  const std::vector<float> pos_inf = {0.0f, inf_f, 5.0f, inf_f};
  CHECK(ids_drawn(plain(1.0f), pos_inf, 2000) == std::set<int32_t>{1, 3});
}

TEST_CASE("sampler: top_k keeps the k best in total order on random tied logits", "[sampler]") {
  std::mt19937_64 gen(4242);
  const int32_t n = 300;
  for (int round = 0; round < 20; ++round) {
    std::vector<float> logits(n);
    for (float& l : logits) l = static_cast<float>(gen() % 40) / 4.0f;  // many ties
    const size_t k = 2 + gen() % 29;
    std::vector<int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    const std::set<int32_t> expected(order.begin(), order.begin() + static_cast<ptrdiff_t>(k));
    sampling_params p = plain(1e4f, gen());  // nearly uniform over whatever survives
    p.top_k = static_cast<int32_t>(k);
    INFO("round " << round << " k " << k);
    CHECK(ids_drawn(p, logits, static_cast<int>(100 * k)) == expected);
  }
}

// 150k vocabulary, no top_k: the sampler avoids a full sort and must still cut exactly where a
// full sort would.
TEST_CASE("sampler: top_p and min_p over 150k tokens match a full-sort reference", "[sampler]") {
  const int32_t n = 150000;
  std::mt19937_64 gen(11);
  std::vector<float> logits(n);
  for (float& l : logits) l = static_cast<float>(gen() % 1000) / 1000.0f;  // the tail: [0, 1)
  // 120 strong tokens at scattered ids, logits 10.00 .. 11.19.
  for (int j = 0; j < 120; ++j)
    logits[(static_cast<size_t>(j) * 1237 + 17) % n] = 10.0f + 0.01f * static_cast<float>(j);

  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  const std::vector<double> prob = reference_softmax(logits, 1.0);

  SECTION("top_p") {
    const double top_p = 0.9;
    std::set<int32_t> expected;
    double cum = 0.0;
    for (int32_t id : order) {
      const double before = cum;
      cum += prob[id];
      expected.insert(id);
      if (cum >= top_p) {
        REQUIRE(before < top_p - 1e-4);  // the cut is not within rounding of the threshold
        REQUIRE(cum > top_p + 1e-4);
        break;
      }
    }
    REQUIRE(expected.size() > 64);
    // A high temperature (applied after truncation) spreads the draws over every survivor.
    sampling_params p = plain(100.0f, 8);
    p.top_p = static_cast<float>(top_p);
    CHECK(ids_drawn(p, logits, 2500) == expected);
  }
  SECTION("min_p") {
    // p >= 0.5 p_max  <=>  logit >= 11.19 + ln 0.5 = 10.497: the strong tokens 10.50 .. 11.19.
    std::set<int32_t> expected;
    for (int32_t id = 0; id < n; ++id)
      if (prob[id] >= 0.5 * prob[order[0]]) expected.insert(id);
    REQUIRE(expected.size() == 70);
    sampling_params p = plain(100.0f, 9);
    p.min_p = 0.5f;
    CHECK(ids_drawn(p, logits, 2000) == expected);
  }
}

TEST_CASE("sampler: repetition penalty divides positive logits, multiplies others", "[sampler]") {
  sampling_params p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  // 2.0 / 2 = 1.0 < 1.5: the repeated token loses.
  CHECK(greedy_after(p, {}, {2.0f, 1.5f, 0.3f}) == 0);
  CHECK(greedy_after(p, {0}, {2.0f, 1.5f, 0.3f}) == 1);
  // -1.0 * 1.5 = -1.5 < -1.2 (dividing would give -0.67 and keep token 0).
  p.repeat_penalty = 1.5f;
  CHECK(greedy_after(p, {0}, {-1.0f, -1.2f, -5.0f}) == 1);
  // Applied once per distinct token, not per occurrence: 2.0 / 1.2 = 1.67 > 1.5
  // (compounding three times would give 1.16).
  p.repeat_penalty = 1.2f;
  CHECK(greedy_after(p, {0, 0, 0}, {2.0f, 1.5f}) == 0);
  // A penalty below 1 rewards repeats: 1.0 / 0.5 = 2.0 > 1.5.
  p.repeat_penalty = 0.5f;
  CHECK(greedy_after(p, {0}, {1.0f, 1.5f}) == 0);
}

TEST_CASE("sampler: presence and frequency penalties follow OpenAI's rule", "[sampler]") {
  sampling_params p = plain(0.0f);
  p.presence_penalty = 0.3f;  // once: 1.0 - 0.3 = 0.7 > 0.6 (per occurrence would be 0.4)
  CHECK(greedy_after(p, {0, 0}, {1.0f, 0.6f}) == 0);
  p.presence_penalty = 0.5f;  // 1.0 - 0.5 = 0.5 < 0.6
  CHECK(greedy_after(p, {0, 0}, {1.0f, 0.6f}) == 1);
  p.presence_penalty = -0.6f;  // negative rewards: 0.5 + 0.6 = 1.1 > 1.0
  CHECK(greedy_after(p, {0}, {0.5f, 1.0f}) == 0);

  p = plain(0.0f);
  p.frequency_penalty = 0.1f;  // per occurrence: 1.0 - 3 * 0.1 = 0.7 > 0.6; 1.0 - 5 * 0.1 = 0.5
  CHECK(greedy_after(p, {0, 0, 0}, {1.0f, 0.6f}) == 0);
  CHECK(greedy_after(p, {0, 0, 0, 0, 0}, {1.0f, 0.6f}) == 1);
  CHECK(greedy_after(p, {1, 0, 1, 0, 0}, {1.0f, 0.6f}) == 0);  // 0: 0.7, 1: 0.4

  // Repetition first, then presence: 3.0 / 2 - 0.4 = 1.1 < 1.2 (the other order gives 1.3).
  p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  p.presence_penalty = 0.4f;
  CHECK(greedy_after(p, {0}, {3.0f, 1.2f}) == 1);
}

TEST_CASE("sampler: penalties only see the last repeat_last_n accepted tokens", "[sampler]") {
  const std::vector<float> logits = {2.0f, 1.5f, 1.4f, 0.0f};
  sampling_params p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 2;
  CHECK(greedy_after(p, {0, 3, 3}, logits) == 0);  // 0 fell out of the window
  p.repeat_last_n = 3;
  CHECK(greedy_after(p, {0, 3, 3}, logits) == 1);
  p.repeat_last_n = 0;
  CHECK(greedy_after(p, {0}, logits) == 0);  // no window at all
  p.repeat_last_n = -1;
  std::vector<int32_t> long_history = {0};
  long_history.insert(long_history.end(), 500, 3);
  CHECK(greedy_after(p, long_history, logits) == 1);  // whole history

  // The ring keeps exact counts as it wraps. Window 3, frequency 0.1, logits {1.0, 0.85}:
  // token 0 wins while its penalized logit 1.0 - 0.1 c0 beats 0.85 - 0.1 c1.
  sampling_params f = plain(0.0f);
  f.frequency_penalty = 0.1f;
  f.repeat_last_n = 3;
  f.temperature = 0.0f;
  sampler s(f, 2);
  const std::vector<float> two = {1.0f, 0.85f};
  const int32_t feed[] = {0, 0, 0, 1, 1, 1, 0, 0, 0};
  // Windows after each accept: [0] [0 0] [0 0 0] [0 0 1] [0 1 1] [1 1 1] [1 1 0] [1 0 0] [0 0 0]
  // c0 - c1:                    1    2     3       1       -1      -3      -1      1       3
  // 0 wins iff 0.15 > 0.1 (c0 - c1), i.e. c0 - c1 <= 1.
  const int32_t expected[] = {0, 1, 1, 0, 0, 0, 0, 0, 1};
  for (size_t i = 0; i < std::size(feed); ++i) {
    s.accept(feed[i]);
    INFO("after accept #" << i);
    CHECK(s.sample(two) == expected[i]);
  }
}

TEST_CASE("sampler: log-probabilities are the log-softmax of the logits it saw, penalties included", "[sampler][logprobs]") {
  // First principles, in double: log p_i = l_i - log(sum_j exp(l_j)).
  const std::vector<float> logits = {1.5f, -0.25f, 3.0f, 3.0f, 0.0f, -7.0f, 2.0f, 0.5f};
  auto log_softmax = [](const std::vector<double>& l, size_t i) {
    double sum = 0;
    for (double x : l) sum += std::exp(x);
    return l[i] - std::log(sum);
  };
  sampling_params p;
  p.temperature = 0;
  sampler s(p, static_cast<int32_t>(logits.size()));
  const int32_t chosen = s.sample(logits);
  REQUIRE(chosen == 2);  // ties: the lower id
  const token_logprobs lp = s.logprobs(chosen, 3);
  const std::vector<double> raw(logits.begin(), logits.end());
  CHECK(lp.chosen.id == 2);
  CHECK(lp.chosen.logprob == Approx(log_softmax(raw, 2)).epsilon(1e-6));
  REQUIRE(lp.top.size() == 3);
  CHECK(lp.top[0].id == 2);
  CHECK(lp.top[1].id == 3);
  CHECK(lp.top[2].id == 6);
  CHECK(lp.top[2].logprob == Approx(log_softmax(raw, 6)).epsilon(1e-6));
  double total = 0;
  for (size_t i = 0; i < raw.size(); ++i) total += std::exp(s.logprobs(static_cast<int32_t>(i), 0).chosen.logprob);
  CHECK(total == Approx(1.0).epsilon(1e-6));
  CHECK(s.logprobs(chosen, 0).top.empty());
  CHECK(s.logprobs(chosen, 20).top.size() == logits.size());  // at most the vocabulary

  // A repetition penalty of 2 halves token 2's positive logit (3 -> 1.5) before the softmax.
  p.repeat_penalty = 2.0f;
  sampler pen(p, static_cast<int32_t>(logits.size()));
  pen.accept(2);
  REQUIRE(pen.sample(logits) == 3);
  std::vector<double> penalized = raw;
  penalized[2] = 1.5;
  const token_logprobs lq = pen.logprobs(2, 2);
  CHECK(lq.chosen.logprob == Approx(log_softmax(penalized, 2)).epsilon(1e-6));
  CHECK(lq.top[0].id == 3);
  CHECK(lq.top[1].id == 6);
}

TEST_CASE("token decoder: log-probabilities only when asked, for every token", "[sampler][logprobs]") {
  sampling_params p;
  p.temperature = 0;
  CHECK_THROWS_AS(token_decoder(p, 4, {}, 21), std::invalid_argument);
  CHECK_THROWS_AS(token_decoder(p, 4, {}, -2), std::invalid_argument);
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f, -1.0f};
  struct letters final : token_text {
    std::string token_bytes(token_id id) const override { return std::string(1, static_cast<char>('a' + id)); }
    bool is_eog(token_id) const override { return false; }
  } text;
  token_decoder none(p, 4, {});
  CHECK_FALSE(none.next(logits, text).logprobs.has_value());
  token_decoder two(p, 4, {}, 2);
  const decoded_token d = two.next(logits, text);
  REQUIRE(d.logprobs.has_value());
  CHECK(d.logprobs->chosen.id == 2);
  REQUIRE(d.logprobs->top.size() == 2);
  CHECK(d.logprobs->top[1].id == 1);
}

TEST_CASE("sampler: retune changes the draw from the next call, on the same stream", "[sampler]") {
  const std::vector<float> logits = {std::log(0.1f), std::log(0.2f), std::log(0.3f), std::log(0.4f)};
  const uint64_t seed = 77;
  sampler s(plain(0.0f, seed), 4);
  for (int i = 0; i < 10; ++i) REQUIRE(s.sample(logits) == 3);  // greedy takes no draws
  std::mt19937_64 ref(seed);
  // Replays `n` draws of the documented walk (ids in `walk` order, cumulative `cdf`).
  const auto replay = [&](int n, const std::vector<int32_t>& walk, const std::vector<double>& cdf) {
    for (int i = 0; i < n; ++i) {
      const double u = static_cast<double>(ref() >> 11) * 0x1.0p-53;
      size_t pos = 0;
      while (pos + 1 < cdf.size() && !(u < cdf[pos])) ++pos;
      const bool near = std::abs(u - cdf[pos]) < 1e-6 || (pos > 0 && std::abs(u - cdf[pos - 1]) < 1e-6);
      const int32_t got = s.sample(logits);
      if (!near) REQUIRE(got == walk[pos]);
    }
  };
  s.retune(plain(1.0f, seed));  // the stream starts where greedy left it: at its first output
  replay(200, {0, 1, 2, 3}, {0.1, 0.3, 0.6, 1.0});
  sampling_params nucleus = plain(1.0f, seed);
  nucleus.top_p = 0.5f;  // keeps 0.4 and 0.3 (0.4 alone is short of 0.5); walked in id order
  s.retune(nucleus);
  replay(200, {2, 3}, {3.0 / 7.0, 1.0});
  sampling_params one = plain(1.0f, seed);
  one.top_k = 1;  // greedy's pick, still one output per call
  s.retune(one);
  for (int i = 0; i < 10; ++i) {
    ref();
    REQUIRE(s.sample(logits) == 3);
  }
  s.retune(plain(1.0f, seed));
  replay(200, {0, 1, 2, 3}, {0.1, 0.3, 0.6, 1.0});

  // The penalties and the seed cannot change, nor can invalid values come in; nothing changes then.
  sampling_params penalized = plain(0.5f, seed);
  penalized.presence_penalty = 1.0f;
  CHECK_THROWS_AS(s.retune(penalized), std::invalid_argument);
  CHECK_THROWS_AS(s.retune(plain(0.5f, seed + 1)), std::invalid_argument);
  CHECK_THROWS_WITH(s.retune(plain(-1.0f, seed)), Catch::Contains("temperature"));
  CHECK(s.params().temperature == 1.0f);
  replay(50, {0, 1, 2, 3}, {0.1, 0.3, 0.6, 1.0});
}

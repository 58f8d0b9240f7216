// `hearth synth --copying`: a model whose layers 0 and 1 are an induction circuit written by hand
// (engine/model/synth.h). Checked from first principles on a small shape: given a sequence of
// distinct tokens and the start of it again, greedy decoding must go on with the rest of the
// sequence and then start it over (the token that followed the earlier occurrence of the last two
// tokens); and a token that occurs twice with different successors is continued by its
// two-token context, not by its latest occurrence.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <vector>

#include "greedy.h"
#include "model/model.h"
#include "model/synth.h"
#include "reference.h"
#include "temp_dir.h"

using namespace hearth;
using namespace hearth::test;

namespace {

// 5 heads of 64 dimensions, one KV head, 2 layers: one chunk of 64 code dimensions.
std::unique_ptr<model> small_copying_model(const temp_dir& dir, std::string_view mix) {
  synth_options o{{"copying-test", 320, 2, 5, 1, 64, 512}};
  const auto found = find_quant_mix(mix);
  REQUIRE(found);
  o.mix = *found;
  o.vocab_file = shared_path("models/stories260K-f32.gguf");
  o.seed = 3;
  o.copying = true;
  const auto path = dir.file("copying-" + std::string(mix) + ".gguf");
  write_synth_model(o, path);
  return model::load(path, 1);
}

// `n` distinct ordinary tokens of the vocabulary, in a seeded random order.
std::vector<token_id> distinct_tokens(const model& m, size_t n, unsigned seed) {
  std::vector<token_id> ids;
  for (token_id t = 0; t < m.vocab().size(); ++t) {
    if (m.vocab().type(t) == token_type::normal) ids.push_back(t);
  }
  std::shuffle(ids.begin(), ids.end(), std::mt19937(seed));
  REQUIRE(ids.size() >= n);
  ids.resize(n);
  return ids;
}

}  // namespace

TEST_CASE("synth --copying: greedy decoding continues a repeated sequence", "[synth][copying]") {
  temp_dir dir;
  for (const char* mix : {"f16", "q8_0"}) {
    INFO("mix " << mix);
    const auto m = small_copying_model(dir, mix);
    for (unsigned seed : {1u, 2u}) {
      const std::vector<token_id> s = distinct_tokens(*m, 40, seed);
      // The sequence, then its first 5 tokens again: what follows is s[5..40) and s[0..).
      std::vector<token_id> prompt = s;
      prompt.insert(prompt.end(), s.begin(), s.begin() + 5);
      std::vector<token_id> expected;
      for (size_t i = 5; expected.size() < 60; ++i) expected.push_back(s[i % s.size()]);
      CHECK(run_greedy(*m, prompt, expected.size()).tokens == expected);
    }
  }
}

TEST_CASE("synth --copying: a token seen twice is continued by its two-token context", "[synth][copying]") {
  temp_dir dir;
  const auto m = small_copying_model(dir, "q8_0");
  const std::vector<token_id> t = distinct_tokens(*m, 30, 5);
  // a x y p1..p8 | b y q1..q8 | c ... : y follows both x and b; the prompt ends with "a x".
  std::vector<token_id> prompt = {t[0], t[1], t[2]};
  for (int i = 0; i < 8; ++i) prompt.push_back(t[3 + i]);
  prompt.insert(prompt.end(), {t[11], t[2]});
  for (int i = 0; i < 8; ++i) prompt.push_back(t[12 + i]);
  prompt.insert(prompt.end(), {t[20], t[21], t[0], t[1]});
  // After "a x": y, then what followed "x y" (p1, p2, ...), not what followed the latest y (q1).
  const std::vector<token_id> expected = {t[2], t[3], t[4], t[5]};
  CHECK(run_greedy(*m, prompt, expected.size()).tokens == expected);
}

TEST_CASE("synth --copying: a shape too small for the circuit is refused", "[synth][copying]") {
  temp_dir dir;
  synth_options o{{"too-small", 256, 2, 4, 1, 64, 512}};
  o.mix = *find_quant_mix("f16");
  o.vocab_file = shared_path("models/stories260K-f32.gguf");
  o.copying = true;
  CHECK_THROWS_AS(write_synth_model(o, dir.file("small.gguf")), std::invalid_argument);
  o.copying = false;
  CHECK_NOTHROW(write_synth_model(o, dir.file("small.gguf")));
}

// Prompt lookup (speculative drafting from the context): hand-worked contexts, then a randomized
// comparison with a brute-force reading of the contract on the context as one flat string.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "prompt_lookup.h"

using namespace hearth;

namespace {

std::vector<token_id> draft_of(const std::vector<token_id>& head, const std::vector<token_id>& tail, int32_t max,
                               prompt_lookup_options o = {}) {
  std::vector<token_id> out{99, 99};  // replaced, not appended to
  prompt_lookup({head, tail}, max, out, o);
  return out;
}

// The contract, literally: for n from max_ngram down, the latest i < size - n with
// c[i..i+n) == c[size-n..size); the draft is the flat string c + draft read from i + n.
std::vector<token_id> brute(const std::vector<token_id>& c, int32_t max, prompt_lookup_options o) {
  const int64_t size = static_cast<int64_t>(c.size());
  for (int64_t n = o.max_ngram; n >= o.min_ngram; --n) {
    for (int64_t i = size - n - 1; i >= 0; --i) {
      if (!std::equal(c.begin() + i, c.begin() + i + n, c.end() - n)) continue;
      std::vector<token_id> flat = c;
      for (int64_t k = 0; k < max; ++k) flat.push_back(flat[static_cast<size_t>(i + n + k)]);
      return {flat.end() - max, flat.end()};
    }
  }
  return {};
}

}  // namespace

TEST_CASE("prompt lookup drafts what followed the latest earlier occurrence of the last tokens", "[prompt_lookup]") {
  // "1 2 3 4 5 ... 1 2" -> the latest "1 2" before the end was followed by 3 4 5.
  CHECK(draft_of({1, 2, 3, 4, 5, 6, 7}, {1, 2}, 3) == std::vector<token_id>{3, 4, 5});
  // The match may lie across the prompt/generated boundary, the draft too.
  CHECK(draft_of({8, 1, 2}, {3, 9, 1, 2}, 2) == std::vector<token_id>{3, 9});
  // The latest occurrence wins: "1 2" was followed by 3 first, then by 7.
  CHECK(draft_of({1, 2, 3, 1, 2, 7, 0}, {1, 2}, 1) == std::vector<token_id>{7});
  // The longest n-gram wins over a later, shorter one: "5 1 2" matches at the start only.
  CHECK(draft_of({5, 1, 2, 3, 0, 1, 2, 4, 5}, {1, 2}, 1) == std::vector<token_id>{3});
}

TEST_CASE("prompt lookup continues a loop past the end of the context", "[prompt_lookup]") {
  // "a b c a b": matched "a b" three tokens back, so the draft repeats with period 3.
  CHECK(draft_of({10, 11, 12, 10, 11}, {}, 7) == std::vector<token_id>{12, 10, 11, 12, 10, 11, 12});
  // A token repeated: period 1.
  CHECK(draft_of({4, 4, 4}, {}, 5) == std::vector<token_id>{4, 4, 4, 4, 4});
}

TEST_CASE("prompt lookup drafts nothing without a match", "[prompt_lookup]") {
  CHECK(draft_of({1, 2, 3, 4, 5}, {6}, 4).empty());
  CHECK(draft_of({}, {}, 4).empty());
  CHECK(draft_of({7}, {7}, 4).empty());        // one token repeated is below min_ngram 2
  CHECK(draft_of({1, 2, 1, 2}, {}, 0).empty());  // nothing asked
  // min_ngram 1 finds the single token.
  CHECK(draft_of({7}, {7}, 2, {1, 4}) == std::vector<token_id>{7, 7});
}

TEST_CASE("prompt lookup matches a brute-force reading of its contract", "[prompt_lookup]") {
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 3000; ++trial) {
    const int alphabet = 2 + static_cast<int>(rng() % 5);  // small: many matches
    const size_t len = rng() % 40;
    std::vector<token_id> c(len);
    for (auto& t : c) t = static_cast<token_id>(rng() % static_cast<unsigned>(alphabet));
    const size_t split = len == 0 ? 0 : rng() % (len + 1);
    const std::vector<token_id> head(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(split));
    const std::vector<token_id> tail(c.begin() + static_cast<std::ptrdiff_t>(split), c.end());
    const int32_t max = static_cast<int32_t>(rng() % 10);
    prompt_lookup_options o;
    o.min_ngram = 1 + static_cast<int32_t>(rng() % 3);
    o.max_ngram = o.min_ngram + static_cast<int32_t>(rng() % 3);
    INFO("trial " << trial);
    CHECK(draft_of(head, tail, max, o) == (max < 1 ? std::vector<token_id>{} : brute(c, max, o)));
  }
}

#pragma once
// Judging a run against a reference for golden tests: logit scales and where greedy tokens may
// part from the reference's.
#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "reference.h"

namespace hearth::test {

float largest_magnitude(const std::vector<float>& v);
float range_of(const std::vector<float>& v);

// A prompt whose greedy tokens may part from the reference's at a position where the reference
// has no logits to show a near-tie (see check_tokens); each entry needs a comment saying why.
struct allowed_divergence {
  const char* prompt;
  size_t at;  // the first generated token that differs
};

// The reference's logits after the prompt and its first `k` greedy tokens, where it has them.
using reference_logits = std::function<std::optional<std::vector<float>>(size_t k)>;

// Greedy tokens equal the reference's up to the first near-tie. Where hearth first picks
// another token than the reference, both runs have seen the same tokens, so if hearth's logits
// there are within tol of the reference's, hearth can prefer its token only if the reference
// ranks the two within 2 * tol. That is judged from the reference's logits, never hearth's;
// where the reference has none (llama.cpp's files hold only the first position's), the
// divergence must be listed in `allowed`. Reports through Catch2 (CHECK).
void check_tokens(const std::vector<token_id>& got, const reference_case& c, const reference_logits& ref_at,
                  float tol, const std::vector<allowed_divergence>& allowed = {});

// llama.cpp's reference files: logits after the prompt only.
reference_logits first_only(const reference_case& c);

}  // namespace hearth::test

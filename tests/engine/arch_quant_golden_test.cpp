// The tiny-llama files llama-quantize wrote in every quantized type (../shared/models/arch)
// against llama.cpp's outputs (../shared/reference/arch): prompt logits within the tolerance of
// 8-bit activations (a fraction of each prompt's logit range, ../shared/README.md), and greedy
// tokens equal up to the first near-tie. One row per file.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "greedy.h"
#include "model/model.h"
#include "reference.h"

using namespace hearth;
using namespace hearth::test;

namespace {

struct quant_case {
  const char* model;  // models/arch/<model>.gguf, reference/arch/<model>.greedy.jsonl
  float tolerance;    // max |logit - llama.cpp's| as a fraction of the reference's logit range
};

const quant_case cases[] = {
    {"tiny-llama-q8_0", 0.02f},   {"tiny-llama-q4_0", 0.02f},   {"tiny-llama-q4_1", 0.02f},
    {"tiny-llama-q5_0", 0.02f},   {"tiny-llama-q4_k_m", 0.02f}, {"tiny-llama-q5_k_m", 0.02f},
    {"tiny-llama-q6_k", 0.02f},   {"tiny-llama-q2_k", 0.02f},   {"tiny-llama-iq4_nl", 0.02f},
    {"tiny-llama-iq4_xs", 0.02f},
};

}  // namespace

TEST_CASE("arch golden: quantized tiny-llama files match llama.cpp within 8-bit tolerance", "[golden][types]") {
  for (const quant_case& qc : cases) {
    DYNAMIC_SECTION(qc.model) {
      auto m = model::load(shared_path(std::string("models/arch/") + qc.model + ".gguf"));
      const auto refs = read_reference(std::string("arch/") + qc.model + ".greedy.jsonl");
      REQUIRE(refs.size() == 3);
      for (const reference_case& c : refs) {
        INFO(qc.model << ", prompt: " << c.prompt);
        const greedy_run r = run_greedy(*m, c.prompt_tokens, c.greedy_tokens.size());
        const auto [lo, hi] = std::minmax_element(c.first_logits.begin(), c.first_logits.end());
        const float tol = qc.tolerance * (*hi - *lo);
        const float diff = max_abs_diff(r.first_logits, c.first_logits);
        INFO("max abs diff " << diff << ", tolerance " << tol << " (logit range " << *hi - *lo << ")");
        CHECK(diff <= tol);
        size_t agree = 0;
        while (agree < c.greedy_tokens.size() && r.tokens[agree] == c.greedy_tokens[agree]) ++agree;
        if (agree < c.greedy_tokens.size()) {
          // Where the runs part, the two best tokens must be within the tolerance of each other.
          std::vector<token_id> ctx = c.prompt_tokens;
          ctx.insert(ctx.end(), c.greedy_tokens.begin(), c.greedy_tokens.begin() + agree);
          const float margin = top2_margin(run_greedy(*m, ctx, 0).first_logits);
          INFO("diverged at generated token " << agree << ", top-2 margin " << margin);
          CHECK(margin < 2 * tol);
        }
      }
    }
  }
}

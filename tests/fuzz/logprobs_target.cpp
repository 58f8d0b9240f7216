// The log-probability files `hearth perplexity --save-logits` writes and --kl-divergence reads
// (engine/perplexity.h): a file is refused with std::runtime_error naming it, or its header
// holds and every row it promises reads back with n_vocab finite log-probabilities.
#include <cmath>

#include "fuzz_target.h"
#include "memory_file.h"
#include "perplexity.h"

namespace hearth::fuzz {

void logprobs_input(fuzz_input input) {
  const memory_file file(input);
  std::unique_ptr<logprob_reader> r;
  try {
    r = std::make_unique<logprob_reader>(file.path());
  } catch (const std::runtime_error& e) {
    expect(std::string(e.what()).starts_with(file.path()), "a refusal that does not name the file: " + std::string(e.what()));
    return;
  }
  const logprob_header& h = r->header();
  expect(h.tokens.size() == static_cast<size_t>(h.n_chunks) * h.n_ctx, "token count differs from the header");
  std::vector<float> logp;
  token_id top = -1;
  const uint64_t rows = static_cast<uint64_t>(h.n_chunks) * h.rows_per_chunk;
  for (uint64_t i = 0; i < rows; ++i) {
    try {
      r->next_row(logp, top);
    } catch (const std::runtime_error&) {
      return;  // a corrupt row, refused
    }
    expect(logp.size() == h.n_vocab, "a row of the wrong size");
    expect(top >= 0 && static_cast<uint32_t>(top) < h.n_vocab, "top token out of range");
    for (float v : logp) expect(std::isfinite(v), "a non-finite log-probability");
  }
  bool past_end = false;
  try {
    r->next_row(logp, top);
  } catch (const std::runtime_error&) {
    past_end = true;
  }
  expect(past_end, "a row past the ones the header promises");
}

}  // namespace hearth::fuzz

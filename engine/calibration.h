#pragma once
// Running a text through a model to measure it (`hearth imatrix`'s activation statistics,
// `hearth prune`'s block influence): the tokens cut into chunks of n_ctx (a shorter tail is
// dropped), each chunk from an empty cache with its first token replaced by BOS when the
// vocabulary adds one, as perplexity does (perplexity.h); every position runs, no logits are
// made. The caller watches the forward pass through its observers (forward.h).
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "forward.h"
#include "model/model.h"

namespace hearth {

struct calibration_options {
  int64_t n_ctx = 128;      // tokens per chunk (>= 2, at most the model's trained context)
  int64_t max_chunks = -1;  // chunks to run at most; -1: all the text holds
  int threads = 1;
  // Called after each chunk with the chunks done and how many there are.
  std::function<void(int64_t done, int64_t total)> on_chunk;
};

// Builds the forward pass, lets `observe` set its observers, runs the chunks; returns how many
// ran. Throws std::invalid_argument naming the problem when the options do not fit the model or
// the text (`text_name` in the message: "the calibration text") holds less than one chunk.
int64_t run_calibration(const model& m, std::span<const token_id> tokens, const calibration_options& o,
                        const std::function<void(forward_pass&)>& observe, std::string_view text_name = "the text");

}  // namespace hearth

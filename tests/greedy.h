#pragma once
// Running a model the way llama.cpp's reference outputs were made, for golden tests: the prompt
// as one batch (its last logits kept), then greedy decoding one token at a time with the decoding
// step every generation loop uses (token_decoder at temperature 0).
#include <span>
#include <string>
#include <vector>

#include "model/model.h"

namespace hearth::test {

struct greedy_run {
  std::vector<float> first_logits;  // after the prompt
  std::vector<token_id> tokens;     // n_gen greedy tokens, fewer if an end-of-generation token came
  std::string text;                 // the text the tokens released
};

greedy_run run_greedy(const model& m, const std::vector<token_id>& prompt, size_t n_gen);

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b);
// Top-2 margin of a logit vector: below the tolerance, either token may win.
float top2_margin(const std::vector<float>& v);

}  // namespace hearth::test

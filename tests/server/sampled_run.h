#pragma once
// A generation computed in-process with the engine and its sampler, no scheduler in between:
// what the daemon's endpoints must reproduce for the same prompt, parameters and seed.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "model/model.h"
#include "sampler.h"

namespace hearth::test {

// Sampling the sampled-generation tests use: temperature 1 over the whole vocabulary with a
// repeat penalty (which sees the prompt), so every token is a real draw; seed 1234567.
sampling_params seeded_sampling();

// Every field of `p` as request JSON (temperature, top_k, ..., seed), so no endpoint's
// defaults take part.
nlohmann::json sampling_fields(const sampling_params& p);

struct sampled_run {
  std::vector<token_id> tokens;  // the tokens shown: the end-of-generation token is not one
  bool ended_by_eog = false;     // finish_reason "stop", and usage counts one more token
};

// The prompt as one batch, then one token at a time, following scheduler.h's contract: the
// sampler accepts every prompt token, then each token it draws; the end-of-generation token ends
// the run; at most max_tokens are drawn.
sampled_run sample_in_process(const model& m, const std::vector<token_id>& prompt, const sampling_params& p,
                              int32_t max_tokens);

}  // namespace hearth::test

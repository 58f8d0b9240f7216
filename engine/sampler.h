#pragma once
// Turns one logit vector into one token: penalties, then top-k, top-p, min-p, temperature and a
// seeded draw; temperature 0 is greedy (argmax after penalties).
//
// One sampler per sequence; not thread-safe (the scheduler thread alone uses it).
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace hearth {

struct sampling_params {
  float temperature = 0.8f;       // 0: greedy
  int32_t top_k = 40;             // 0: off (whole vocabulary)
  float top_p = 0.95f;            // 1: off
  float min_p = 0.05f;            // 0: off
  float repeat_penalty = 1.0f;    // 1: off; divides positive logits (multiplies negative) of recent tokens
  int32_t repeat_last_n = 64;     // window the penalties look at; -1: whole history, 0: none
  float presence_penalty = 0.0f;  // subtracted once from every token seen in the window
  float frequency_penalty = 0.0f; // subtracted per occurrence in the window
  uint64_t seed = 0xFFFFFFFFu;    // same seed, same draws
};

// An error message naming the field and its allowed range, or nullopt if the params are usable.
std::optional<std::string> validate(const sampling_params& p);

class sampler {
 public:
  // Precondition: validate(p) is nullopt.
  sampler(const sampling_params& p, int32_t n_vocab);

  // Picks the next token from logits (n_vocab values). Does not record it: call accept().
  int32_t sample(std::span<const float> logits);
  // Records a token (prompt or generated) in the penalty history.
  void accept(int32_t token);

 private:
  sampling_params params_;
  int32_t n_vocab_;
  std::mt19937_64 rng_;
  std::deque<int32_t> window_;
  std::unordered_map<int32_t, int32_t> counts_;  // occurrences of each token inside window_
  struct candidate { int32_t id; float logit; };
  std::vector<candidate> cand_;
  std::vector<float> probs_;
};

}  // namespace hearth

#pragma once
// Turns one logit vector into one token: penalties, then top-k, top-p, min-p, temperature and a
// seeded draw; temperature 0 is greedy (argmax after penalties).
//
// One sampler per sequence; not thread-safe (the scheduler thread alone uses it).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "checked_size.h"

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

// A token's log-probability: log-softmax, at temperature 1, of the logits the sampler saw (after
// sanitizing and penalties), as OpenAI defines `logprobs`.
struct token_logprob {
  int32_t id = 0;
  float logprob = 0;
};
struct token_logprobs {
  token_logprob chosen;
  std::vector<token_logprob> top;  // the most likely tokens, most likely first (ties: lower id)
};

// The most top alternatives a request may ask for (OpenAI's top_logprobs range is 0..20).
inline constexpr int32_t max_top_logprobs = 20;

// An error message naming the field and its allowed range, or nullopt if the params are usable.
std::optional<std::string> validate(const sampling_params& p);

class sampler {
 public:
  // Precondition: validate(p) is nullopt and n_vocab > 0; otherwise throws std::invalid_argument.
  sampler(const sampling_params& p, int32_t n_vocab);

  // Picks the next token from logits (n_vocab values). Does not record it: call accept().
  // Throws std::invalid_argument if logits.size() != n_vocab.
  //
  // Contracts beyond the chain itself:
  // - Ordering is total: higher logit first, lower id first among equal logits. So greedy picks the
  //   lowest id of tied maxima, top_k = 1 equals greedy, and truncation at a tie is deterministic.
  // - top_p and min_p work on the softmax at temperature 1 of the tokens that survived the previous
  //   stage (renormalized); the temperature only shapes the final draw.
  // - Logits are sanitized before use: NaN counts as -inf (never drawn), +inf as the largest finite
  //   float. If every logit is -inf (or NaN), the lowest id is returned.
  // - The draw is portable: with temperature > 0 every call takes exactly one output x of
  //   std::mt19937_64(seed), u = (x >> 11) * 2^-53, and returns the first survivor whose cumulative
  //   weight exceeds u * total, walking survivors in total order if top_k cut, else in id order.
  //   So the tokens depend only on the seed and the sequence of logits and accepted tokens.
  // `allowed` (optional): a token mask, bit i of allowed[i / 32] set iff token i may be drawn
  // ((n_vocab + 31) / 32 words); the others count as -inf from the start (a grammar's mask, see
  // grammar.h), so penalties, truncation, the draw and logprobs see only allowed tokens.
  // Throws std::invalid_argument if a non-empty mask has the wrong size.
  int32_t sample(std::span<const float> logits, std::span<const uint32_t> allowed = {});
  // The log-probabilities of the last sample() call's logits: `chosen`'s and the top_n most
  // likely tokens' (top_n in [0, max_top_logprobs], at most n_vocab; impossible tokens, -inf,
  // are left out, so a mask can leave fewer). O(n_vocab). Precondition: sample() was called.
  token_logprobs logprobs(int32_t chosen, int32_t top_n) const;
  // Steering a running generation: from the next sample() on, uses p's temperature, top_k,
  // top_p and min_p. The draws stay one stream (the seed's; nothing is reset) and the penalty
  // history stays, so p's penalties and seed must equal the current ones. Throws
  // std::invalid_argument (keeping the current params) if validate(p) fails or they differ.
  void retune(const sampling_params& p);
  const sampling_params& params() const { return params_; }
  // Records a token (prompt or generated) in the penalty history.
  // Throws std::out_of_range if token is not in [0, n_vocab).
  void accept(int32_t token);

  // Most bytes one sampler holds for a vocabulary of n_vocab and a history of `positions`
  // tokens, whatever its parameters (for memory planning).
  static checked_size max_bytes(int64_t n_vocab, int64_t positions);

 private:
  struct candidate { int32_t id; float logit; };

  void load_logits(std::span<const float> logits, std::span<const uint32_t> allowed);
  void apply_penalties();
  void select_top_k();
  void top_p_listed(float max_l);
  void top_p_all(float max_l);
  void min_p(float max_l);
  void list_all();
  int32_t draw(float max_l, double u);

  sampling_params params_;
  int32_t n_vocab_;
  std::mt19937_64 rng_;
  // Penalty history, kept only when some penalty is active and repeat_last_n != 0.
  bool track_history_ = false;
  std::vector<int32_t> window_;    // ring of the last repeat_last_n tokens (whole history for -1)
  size_t window_head_ = 0;         // oldest entry of window_ once the ring is full
  std::vector<int32_t> counts_;    // occurrences of each token id inside window_ (n_vocab entries)
  // Per-call state. Buffers are reused across calls, so sample() allocates only on its first
  // call: the candidate buffers hold k entries with top_k, else the whole vocabulary.
  std::vector<float> logits_;      // sanitized, penalized logits, indexed by id
  bool listed_ = false;            // the surviving tokens are cand_ (else: every id of logits_)
  bool sorted_ = false;            // cand_ is in total order (else in id order)
  std::vector<candidate> cand_;
  std::vector<float> weights_;     // draw weights, parallel to cand_
  std::vector<double> bucket_mass_;  // top_p over the whole vocabulary: mass per logit bucket
};

}  // namespace hearth

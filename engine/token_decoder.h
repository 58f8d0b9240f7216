#pragma once
// One decoding step, the same for every loop that turns logits into text (the scheduler's
// sequences, `hearth run`, the golden tests): sample a token, record it for the penalties, and
// pass its bytes through UTF-8 reassembly and stop-string matching.
//
// Contract of next():
// - The sampled token is recorded in the sampler's history, so the penalties of the next step
//   see it.
// - An end-of-generation token (token_text::is_eog) releases no text and leaves the text
//   pipeline untouched: the caller ends the generation (and counts the token, if it counts EOG).
// - Any other token's bytes go through utf8_stream, then stop_matcher. `text` is what may be shown
//   now: complete characters only, nothing that could still be the start of a stop string, and
//   nothing of a matched stop string or after it. It may carry held-back text of earlier tokens.
// - `stopped` is set on the step whose bytes completed a stop string: the caller ends the
//   generation; the stop string itself is never released.
// finish() releases what is still held back at the end (an unfinished character becomes U+FFFD);
// it is "" after a stop string matched.
// With a grammar (constrained decoding): each step samples only among the tokens the grammar's
// mask allows (EOG tokens only where the text so far is complete), so the text generated always
// continues a sentence of the grammar and, if it ends by EOG, is one. If the grammar allows
// nothing more and the vocabulary has no EOG token, the step ends the generation with
// end_of_generation and token -1. If nothing is allowed while the text is incomplete (the
// vocabulary cannot spell what the grammar requires), next() throws std::runtime_error.
//
// Not thread-safe: one decoder per generation, used by one thread.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "grammar.h"
#include "sampler.h"
#include "stop_matcher.h"
#include "tokenizer/vocab.h"

namespace hearth {

// What decoding needs of a vocabulary: each token's bytes and whether it ends a generation.
// Implementations must be callable from the decoding thread while it decodes.
class token_text {
 public:
  virtual ~token_text() = default;
  // The exact bytes a token stands for ("" for control tokens and ids out of range).
  virtual std::string token_bytes(token_id id) const = 0;
  virtual bool is_eog(token_id id) const = 0;
};

// A model's vocabulary as token_text. Holds a reference: `v` must outlive it.
class vocab_text final : public token_text {
 public:
  explicit vocab_text(const vocab& v) : vocab_(v) {}
  std::string token_bytes(token_id id) const override { return vocab_.token_to_bytes(id); }
  bool is_eog(token_id id) const override { return vocab_.is_eog(id); }

 private:
  const vocab& vocab_;
};

// A token_text that also gives some control tokens their text: a chat format's tool-call
// markers ([TOOL_CALLS], <|python_tag|> ...), which the API must see to find the calls. Every
// other id is as `base` has it. Holds a reference: `base` must outlive it.
class showing_token_text final : public token_text {
 public:
  // `shown`: (id, text) pairs.
  showing_token_text(const token_text& base, std::vector<std::pair<token_id, std::string>> shown);
  std::string token_bytes(token_id id) const override;
  bool is_eog(token_id id) const override { return base_.is_eog(id); }

 private:
  const token_text& base_;
  std::vector<std::pair<token_id, std::string>> shown_;  // sorted by id
};

// A grammar to decode under, with the trie of the model's vocabulary it is matched against
// (token_trie's n_vocab must be the decoder's).
struct grammar_constraint {
  std::shared_ptr<const grammar> rules;
  std::shared_ptr<const token_trie> trie;
};

// The trie of a vocabulary's tokens for grammar masks (grammar.h).
token_trie token_trie_of(const token_text& text, int32_t n_vocab);

struct decoded_token {
  token_id token = -1;
  bool end_of_generation = false;  // an EOG token: no text, the generation ends
  bool stopped = false;            // a stop string completed: the generation ends
  std::string text;                // text released by this step (possibly empty)
  // With logprobs requested (top_logprobs >= 0): the sampled token's log-probability and the
  // top_logprobs most likely tokens' (sampler::logprobs), for every token, EOG included.
  std::optional<token_logprobs> logprobs;
};

class token_decoder {
 public:
  // Throws std::invalid_argument (naming the field or stop string) if the sampling parameters
  // (see validate()) or the stop strings (see validate_stops()) are invalid, or n_vocab < 1.
  // top_logprobs: -1 for no log-probabilities, else 0..max_top_logprobs alternatives per token.
  // constraint: optional (rules null: unconstrained); throws std::invalid_argument if its trie is
  // missing or of another vocabulary size.
  token_decoder(const sampling_params& p, int32_t n_vocab, std::vector<std::string> stops,
                int32_t top_logprobs = -1, grammar_constraint constraint = {});

  // Records prompt tokens in the penalty history (the penalties look at the prompt too).
  // Throws std::out_of_range for an id outside [0, n_vocab).
  void accept_prompt(std::span<const token_id> prompt);

  // One step from `logits` (n_vocab values); see the contract at the top of this file. Throws
  // std::invalid_argument if logits.size() != n_vocab. After stopped or end_of_generation the
  // caller must not call next() again.
  decoded_token next(std::span<const float> logits, const token_text& vocab);

  // Steering a running generation (the scheduler's steerable sessions). Each takes effect from
  // the next step on.
  // retune: samples with p's temperature, top_k, top_p and min_p (sampler::retune: the penalties
  // and seed cannot change). Throws std::invalid_argument, changing nothing, otherwise.
  void retune(const sampling_params& p);
  const sampling_params& params() const { return sampler_.params(); }
  // set_stops: matches these stop strings from now on. Text held back for the old ones is matched
  // against the new ones: what cannot start a new one is released with the next step's text (or
  // by finish()); if it already holds a new one, the generation is over: returns true
  // (stopped(); the caller ends it, and finish() releases the text before it). Throws
  // std::invalid_argument (validate_stops), changing nothing, for an invalid stop string.
  bool set_stops(std::vector<std::string> stops);
  // break_text: text from outside joins the sequence (the scheduler's `append`). What was held
  // back (an unfinished character, which becomes U+FFFD, or a possible start of a stop string)
  // can no longer be continued by what is generated, so it is released with the next step's
  // text, and stop strings match afresh after it.
  void break_text();
  // Decoding under a grammar: text from outside would leave it (no break_text then).
  bool constrained() const { return grammar_.has_value(); }

  // Text still held back at the end, with text released by set_stops or break_text that no step
  // took yet; only that after a stop string. Call once, at the end.
  std::string finish();
  bool stopped() const { return stops_.stopped(); }
  // The stop string that ended the generation; precondition: stopped().
  const std::string& matched_stop() const { return stops_.matched(); }

 private:
  sampler sampler_;
  utf8_stream utf8_;
  stop_matcher stops_;
  int32_t top_logprobs_;
  std::shared_ptr<const token_trie> trie_;
  std::optional<grammar_matcher> grammar_;  // set with a constraint
  std::vector<uint32_t> mask_;              // the grammar's mask at this step
  std::string carry_;                       // released by set_stops or break_text, not yet shown
};

}  // namespace hearth

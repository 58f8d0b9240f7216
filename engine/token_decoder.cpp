#include "token_decoder.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <utility>

namespace hearth {

showing_token_text::showing_token_text(const token_text& base, std::vector<std::pair<token_id, std::string>> shown)
    : base_(base), shown_(std::move(shown)) {
  std::sort(shown_.begin(), shown_.end());
}

std::string showing_token_text::token_bytes(token_id id) const {
  const auto it = std::lower_bound(shown_.begin(), shown_.end(), id,
                                   [](const std::pair<token_id, std::string>& p, token_id v) { return p.first < v; });
  if (it != shown_.end() && it->first == id) return it->second;
  return base_.token_bytes(id);
}

token_trie token_trie_of(const token_text& text, int32_t n_vocab) {
  std::vector<std::string> bytes(static_cast<size_t>(std::max(n_vocab, 0)));
  std::vector<token_id> eog;
  for (token_id id = 0; id < n_vocab; ++id) {
    if (text.is_eog(id)) {
      eog.push_back(id);
    } else {
      bytes[static_cast<size_t>(id)] = text.token_bytes(id);
    }
  }
  return token_trie(bytes, eog);
}

token_decoder::token_decoder(const sampling_params& p, int32_t n_vocab, std::vector<std::string> stops,
                             int32_t top_logprobs, grammar_constraint constraint)
    : sampler_(p, n_vocab), stops_(std::move(stops)), top_logprobs_(top_logprobs) {
  if (top_logprobs < -1 || top_logprobs > max_top_logprobs) {
    throw std::invalid_argument("top_logprobs must be in 0.." + std::to_string(max_top_logprobs));
  }
  if (constraint.rules) {
    if (!constraint.trie || constraint.trie->n_vocab() != n_vocab) {
      throw std::invalid_argument("a grammar constraint needs the token trie of this vocabulary");
    }
    trie_ = std::move(constraint.trie);
    grammar_.emplace(std::move(constraint.rules));
  }
}

void token_decoder::accept_prompt(std::span<const token_id> prompt) {
  for (token_id t : prompt) sampler_.accept(t);
}

decoded_token token_decoder::next(std::span<const float> logits, const token_text& vocab) {
  decoded_token d;
  if (grammar_) {
    grammar_->allowed_tokens(*trie_, mask_);
    if (std::all_of(mask_.begin(), mask_.end(), [](uint32_t w) { return w == 0; })) {
      if (!grammar_->can_end()) {
        throw std::runtime_error("the grammar allows no token here (the vocabulary cannot spell what it requires)");
      }
      d.end_of_generation = true;  // complete, and no EOG token to say so
      return d;
    }
  }
  d.token = sampler_.sample(logits, grammar_ ? std::span<const uint32_t>(mask_) : std::span<const uint32_t>());
  if (top_logprobs_ >= 0) d.logprobs = sampler_.logprobs(d.token, top_logprobs_);
  sampler_.accept(d.token);
  if (vocab.is_eog(d.token)) {
    d.end_of_generation = true;
    return d;
  }
  const std::string bytes = vocab.token_bytes(d.token);
  if (grammar_ && !grammar_->accept(bytes)) {
    throw std::logic_error("a token the grammar's mask allowed does not continue it");
  }
  d.text = std::exchange(carry_, {}) + stops_.push(utf8_.push(bytes));
  d.stopped = stops_.stopped();
  return d;
}

void token_decoder::retune(const sampling_params& p) { sampler_.retune(p); }

bool token_decoder::set_stops(std::vector<std::string> stops) {
  stop_matcher fresh(std::move(stops));  // throws before anything changed
  if (!stops_.stopped()) carry_ += fresh.push(stops_.flush());
  stops_ = std::move(fresh);
  return stops_.stopped();
}

void token_decoder::break_text() {
  if (stops_.stopped()) return;
  carry_ += stops_.push(utf8_.flush());
  carry_ += stops_.flush();
}

std::string token_decoder::finish() {
  std::string out = std::exchange(carry_, {});
  if (stops_.stopped()) return out;
  // The flushed bytes may complete a stop string (U+FFFD can be part of one); flush() is then "".
  out += stops_.push(utf8_.flush());
  return out + stops_.flush();
}

}  // namespace hearth

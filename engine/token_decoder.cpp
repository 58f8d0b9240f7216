#include "token_decoder.h"

#include <stdexcept>
#include <string>

namespace hearth {

token_decoder::token_decoder(const sampling_params& p, int32_t n_vocab, std::vector<std::string> stops,
                             int32_t top_logprobs)
    : sampler_(p, n_vocab), stops_(std::move(stops)), top_logprobs_(top_logprobs) {
  if (top_logprobs < -1 || top_logprobs > max_top_logprobs) {
    throw std::invalid_argument("top_logprobs must be in 0.." + std::to_string(max_top_logprobs));
  }
}

void token_decoder::accept_prompt(std::span<const token_id> prompt) {
  for (token_id t : prompt) sampler_.accept(t);
}

decoded_token token_decoder::next(std::span<const float> logits, const token_text& vocab) {
  decoded_token d;
  d.token = sampler_.sample(logits);
  if (top_logprobs_ >= 0) d.logprobs = sampler_.logprobs(d.token, top_logprobs_);
  sampler_.accept(d.token);
  if (vocab.is_eog(d.token)) {
    d.end_of_generation = true;
    return d;
  }
  d.text = stops_.push(utf8_.push(vocab.token_bytes(d.token)));
  d.stopped = stops_.stopped();
  return d;
}

std::string token_decoder::finish() {
  if (stops_.stopped()) return {};
  // The flushed bytes may complete a stop string (U+FFFD can be part of one); flush() is then "".
  std::string out = stops_.push(utf8_.flush());
  return out + stops_.flush();
}

}  // namespace hearth

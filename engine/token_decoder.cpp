#include "token_decoder.h"

namespace hearth {

token_decoder::token_decoder(const sampling_params& p, int32_t n_vocab, std::vector<std::string> stops)
    : sampler_(p, n_vocab), stops_(std::move(stops)) {}

void token_decoder::accept_prompt(std::span<const token_id> prompt) {
  for (token_id t : prompt) sampler_.accept(t);
}

decoded_token token_decoder::next(std::span<const float> logits, const token_text& vocab) {
  decoded_token d;
  d.token = sampler_.sample(logits);
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

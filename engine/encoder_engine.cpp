#include "encoder_engine.h"

#include <exception>
#include <stdexcept>

#include "kv_cache.h"

namespace hearth {

encoder_engine::encoder_engine(const bert_encoder& e, const vocab& v, int threads, int64_t sequences)
    : encoder_(e),
      vocab_(v),
      sequences_(sequences),
      total_blocks_(sequences * kv_cache::blocks_needed(e.context_length(), kBlock)),
      pool_(threads) {
  if (sequences < 1) throw std::invalid_argument("encoder_engine: sequences must be >= 1");
  if (v.size() != e.vocab_size()) {
    throw std::invalid_argument("the vocabulary has " + std::to_string(v.size()) + " tokens but the encoder's " +
                                "token embeddings have " + std::to_string(e.vocab_size()));
  }
}

int32_t encoder_engine::seq_create() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i].live) {
      slots_[i] = {true, false, 0};
      return static_cast<int32_t>(i);
    }
  }
  slots_.push_back({true, false, 0});
  return static_cast<int32_t>(slots_.size() - 1);
}

void encoder_engine::seq_free(int32_t seq) {
  if (seq < 0 || static_cast<size_t>(seq) >= slots_.size() || !slots_[seq].live) return;
  used_blocks_ -= slots_[seq].blocks;
  slots_[seq] = {};
}

bool encoder_engine::seq_reserve(int32_t seq, int64_t n_positions) {
  if (seq < 0 || static_cast<size_t>(seq) >= slots_.size() || !slots_[seq].live) return false;
  if (n_positions > encoder_.context_length()) return false;
  const int64_t need = kv_cache::blocks_needed(n_positions, kBlock);
  slot& s = slots_[seq];
  if (need <= s.blocks) return true;
  if (need - s.blocks > free_blocks()) return false;
  used_blocks_ += need - s.blocks;
  s.blocks = need;
  return true;
}

std::span<const float> encoder_engine::forward(std::span<const batch_entry> batch) {
  // The batch's inputs: each sequence's rows, contiguous, positions 0..n-1.
  struct input {
    size_t begin, end;
    std::vector<token_id> tokens;
    std::vector<float> states;
    std::exception_ptr failure;
  };
  std::vector<input> inputs;
  hidden_.clear();
  for (size_t i = 0; i < batch.size();) {
    const batch_entry& first = batch[i];
    if (first.seq < 0 || static_cast<size_t>(first.seq) >= slots_.size() || !slots_[first.seq].live) {
      throw std::invalid_argument("encoder: row " + std::to_string(i) + " names no sequence");
    }
    slot& s = slots_[first.seq];
    if (s.ran) throw std::invalid_argument("encoder: sequence " + std::to_string(first.seq) + " was already encoded");
    input in{i, i, {}, {}, nullptr};
    while (in.end < batch.size() && batch[in.end].seq == first.seq) {
      const batch_entry& e = batch[in.end];
      if (e.logits) throw std::invalid_argument("encoder: an encoder produces no logits");
      if (e.pos != static_cast<int32_t>(in.tokens.size())) {
        throw std::invalid_argument("encoder: each input must come whole, positions 0..n-1 in order");
      }
      if (e.token < 0 || e.token >= encoder_.vocab_size()) {
        throw std::invalid_argument("encoder: token " + std::to_string(e.token) + " is outside the vocabulary");
      }
      in.tokens.push_back(e.token);
      ++in.end;
    }
    if (static_cast<int64_t>(in.tokens.size()) > s.blocks * kBlock) {
      throw std::invalid_argument("encoder: sequence " + std::to_string(first.seq) + " has too few positions reserved");
    }
    s.ran = true;
    i = in.end;
    inputs.push_back(std::move(in));
  }
  pool_.parallel_for(static_cast<int64_t>(inputs.size()), [&](int64_t k) {
    input& in = inputs[static_cast<size_t>(k)];
    try {
      in.states = encoder_.hidden_states(in.tokens);
    } catch (...) {
      in.failure = std::current_exception();
    }
  });
  const auto d = static_cast<size_t>(encoder_.dim());
  for (const input& in : inputs) {
    if (in.failure) std::rethrow_exception(in.failure);
    for (size_t i = in.begin; i < in.end; ++i) {
      if (!batch[i].hidden) continue;
      const float* row = in.states.data() + (i - in.begin) * d;
      hidden_.insert(hidden_.end(), row, row + d);
    }
  }
  return {};
}

}  // namespace hearth

#pragma once
// Prompt lookup: drafting tokens for speculative decoding from a sequence's own context, without
// a second model. The context's last n tokens (n from max_ngram down to min_ngram, longest first)
// are looked up among its earlier tokens; the latest earlier occurrence wins, and the tokens that
// followed it are the draft. Text that repeats its context (quoting, code edits, "repeat this",
// loops) is drafted right; other text mostly finds no match, and then nothing is drafted.
//
// A draft that runs past the end of the context goes on copying itself: after a match `d` tokens
// back, the continuation repeats with period d (a loop "a b c a b" drafts "c a b c ..."), as the
// tokens it would copy are the ones it has just drafted.
//
// Cost: O(context length x max_ngram) per call, no state and no allocation beyond `out`.
#include <cstdint>
#include <span>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth {

struct prompt_lookup_options {
  int32_t min_ngram = 2;
  int32_t max_ngram = 4;
};

// A sequence's context in two parts (its prompt, then the tokens generated or appended since),
// read as one: no copy per step.
struct token_context {
  std::span<const token_id> head;
  std::span<const token_id> tail;

  size_t size() const { return head.size() + tail.size(); }
  token_id operator[](size_t i) const { return i < head.size() ? head[i] : tail[i - head.size()]; }
};

// Replaces `out` with up to max_tokens drafted tokens continuing `context` (empty: no match, or
// max_tokens < 1). Preconditions: 1 <= min_ngram <= max_ngram.
void prompt_lookup(const token_context& context, int32_t max_tokens, std::vector<token_id>& out,
                   const prompt_lookup_options& o = {});

}  // namespace hearth

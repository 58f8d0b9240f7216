#pragma once
// Attention over a span of positions [first, n) with an optional soft-cap of the scores: what
// sliding-window layers (Gemma 2/3) and soft-capped ones (Gemma 2) need. The plain case (first
// 0, no cap) is kernel_set::attend; this follows its reference recipe (attend_heads_ref) step
// for step, so a span starting at 0 without cap gives its results exactly. Positions before
// `first` are skipped, as llama.cpp's mask of -inf makes its flash attention skip them.
// Pure function; any thread.
#include <cstdint>

#include "kernels/kernels.h"

namespace hearth {

// q: heads x hd, F16; keys[b], values[b]: block b's [block_size][hd] F16 rows; out: heads x hd.
// Each score is s = q·k * scale, then with cap > 0, s = cap * tanh(s) where scale was first
// divided by cap (ggml's order).
void attend_span(const kernels::kernel_set& ks, const uint16_t* q, int64_t heads, int64_t hd,
                 const uint16_t* const* keys, const uint16_t* const* values, int32_t block_size, int64_t first,
                 int64_t n, float scale, float cap, float* out);

}  // namespace hearth

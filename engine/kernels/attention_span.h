#pragma once
// Attention over a span of positions [first, n) with an optional soft-cap of the scores: what
// sliding-window layers (Gemma 2/3) and soft-capped ones (Gemma 2) need, and with first 0 and no
// cap the reference of kernel_set::attend (attend_heads_ref is this). Positions before `first`
// are skipped, as llama.cpp's mask of -inf makes its flash attention skip them.
// Pure function; any thread.
#include <cstdint>

#include "kernels/kernels.h"

namespace hearth::kernels {

// q: heads x hd, F16; keys[b], values[b]: block b's [block_size][hd] F16 rows; out: heads x hd.
// Each score is s = q·k * scale, then with cap > 0, s = cap * tanh(s) where scale was first
// divided by cap (ggml's order).
void attend_span(const kernel_set& ks, const uint16_t* q, int64_t heads, int64_t hd,
                 const uint16_t* const* keys, const uint16_t* const* values, int32_t block_size, int64_t first,
                 int64_t n, float scale, float cap, float* out);

}  // namespace hearth::kernels

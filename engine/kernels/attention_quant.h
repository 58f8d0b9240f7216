#pragma once
// Attention over a quantized KV cache (kv_cache with Q8_0 or Q4_0 rows), computed as ggml's CPU
// flash attention does for such a cache: the query is converted to the keys' activation format
// (q8, 32-element blocks), each score is the keys' matmul dot product (recipe Q8S), and the values
// are dequantized to floats and summed in an F32 row with a running maximum (online softmax):
// on a new maximum the row is scaled by exp(old - new) and the value added with weight 1, else
// added with weight exp(s - max); the row ends multiplied by 1 / (sum of weights).
//
// Every step is a kernel of `ks` that agrees bit for bit with the scalar set's (gemm_for,
// convert_for, softmax_rows_f32 for the steps of up to 16 positions at a time; dequantizing is
// exact), so the output is the same bits under every kernel set, and a head's result depends only
// on its own query and cache rows.
// Pure function; any thread (its buffers are thread-local).
#include <cstdint>

#include "gguf/ggml_type.h"
#include "kernels/kernels.h"

namespace hearth::kernels {

// q: heads x hd floats (scaled or not, as the caller's scale says); keys[b], values[b]: block b's
// [block_size] rows of kv_cache::row_bytes(type, hd) bytes; positions [first, n) are attended;
// each score is s = q·k * scale, then with cap > 0, s = cap * tanh(s) where scale was first
// divided by cap (ggml's order). out: heads x hd. Precondition: hd % 32 == 0, ktype and vtype
// Q8_0 or Q4_0.
void attend_quantized(const kernel_set& ks, ggml_type ktype, ggml_type vtype, const float* q, int64_t heads,
                      int64_t hd, const uint8_t* const* keys, const uint8_t* const* values, int32_t block_size,
                      int64_t first, int64_t n, float scale, float cap, float* out);

}  // namespace hearth::kernels

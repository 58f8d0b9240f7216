#pragma once
// On-disk block layouts of the quantized types (identical to ggml's), checked at compile time.
#include <cstddef>
#include <cstdint>

namespace hearth {

constexpr int qk4_0 = 32;
constexpr int qk8_0 = 32;

// x[j] = (nibble - 8) * d; low nibbles hold elements 0..15, high nibbles 16..31.
struct block_q4_0 {
  uint16_t d;  // fp16 scale
  uint8_t qs[qk4_0 / 2];
};
static_assert(sizeof(block_q4_0) == 18);

// x[j] = qs[j] * d. Also the activation format of Q4_0/Q8_0 dot products.
struct block_q8_0 {
  uint16_t d;  // fp16 scale
  int8_t qs[qk8_0];
};
static_assert(sizeof(block_q8_0) == 34);

}  // namespace hearth

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

// x[j] = nibble * d + m; nibbles as in Q4_0.
struct block_q4_1 {
  uint16_t d, m;  // fp16 scale and minimum
  uint8_t qs[16];
};
static_assert(sizeof(block_q4_1) == 20);

// x[j] = (q - 16) * d, q = nibble | (bit j of qh) << 4; nibbles as in Q4_0.
struct block_q5_0 {
  uint16_t d;
  uint8_t qh[4];  // little-endian uint32: bit j is element j's fifth bit
  uint8_t qs[16];
};
static_assert(sizeof(block_q5_0) == 22);

// x[j] = q * d + m, q as in Q5_0.
struct block_q5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(block_q5_1) == 24);

// x[j] = kvalues_iq4nl[nibble] * d; nibbles as in Q4_0.
struct block_iq4_nl {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(block_iq4_nl) == 18);

// The non-linear 4-bit codebook of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl).
constexpr int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// x[j] = qs[j] * d.
struct block_q8_0 {
  uint16_t d;  // fp16 scale
  int8_t qs[qk8_0];
};
static_assert(sizeof(block_q8_0) == 34);

// The activation format of Q8_0 and Q4_0 matmuls: a row quantized in 32-element blocks with
// llama.cpp's rule (d = fp16(max|x| / 127), q = round-half-even(x * 127 / max|x|)), plus what
// the integer kernels need per block: d already as float, and the sum of q (which folds the
// weights' unsigned offset out of an unsigned-by-signed dot product).
struct block_q8_act {
  float d;
  int32_t sum;
  int8_t qs[32];
};
static_assert(sizeof(block_q8_act) == 40);

// A block with an infinite or NaN element (overflowed activations, a model with broken weights)
// has no scale: every quantizer stores d = NaN, q = 0, sum = 0, so the integer kernels stay in
// range and every dot product with the block is NaN (which the sampler maps to -inf).
inline void set_non_finite(block_q8_act& b) {
  b.d = __builtin_nanf("");
  b.sum = 0;
  for (int8_t& q : b.qs) q = 0;
}
constexpr int qk_k = 256;

// The activation format of K-quant and IQ4_XS matmuls, ggml's block_q8_K: 256 elements,
// d = -(the value of largest magnitude, with its sign) / 127 as a float, q = round-half-even(x / d)
// (at most 127), and the sums of q over each 16 elements (which fold the weights' sub-block
// minimums and offsets out of the integer dot products).
struct block_q8_k_act {
  float d;
  int8_t qs[qk_k];
  int16_t bsums[qk_k / 16];
};
static_assert(sizeof(block_q8_k_act) == 292);

// Weights repacked for SIMD kernels that put one weight row in each 32-bit lane: groups of 16
// rows, stored block by block. Element group g of a block is 4 consecutive elements; for each
// group the 16 rows' 4 bytes lie side by side (64 bytes), so one vector load feeds 16 rows.
constexpr int pack_rows = 16;

// Q4_0: qs[j] holds, for each row, that row's Q4_0 bytes 4j..4j+3: low nibbles are elements
// 4j..4j+3, high nibbles elements 16+4j..16+4j+3 (the original byte order, interleaved by row).
struct block_q4_0x16 {
  uint16_t d[pack_rows];
  uint8_t qs[4][4 * pack_rows];
};
static_assert(sizeof(block_q4_0x16) == pack_rows * sizeof(block_q4_0));

// Q8_0: qs[j] holds each row's elements 4j..4j+3 plus 128, as unsigned bytes (so the kernels'
// unsigned-by-signed dot products apply; the offset is folded out with the activation's sum).
struct block_q8_0x16 {
  uint16_t d[pack_rows];
  uint8_t qs[8][4 * pack_rows];
};
static_assert(sizeof(block_q8_0x16) == pack_rows * sizeof(block_q8_0));

// Q4_1: as Q4_0 with the minimums.
struct block_q4_1x16 {
  uint16_t d[pack_rows], m[pack_rows];
  uint8_t qs[4][4 * pack_rows];
};
static_assert(sizeof(block_q4_1x16) == pack_rows * sizeof(block_q4_1));

// Q5_0 / Q5_1: as Q4_0 / Q4_1, plus each row's fifth bits rearranged into one 32-bit lane:
// bit 2j + h of byte i is the fifth bit of element 16h + 4j + i (so element group jj's bits
// are one shift and mask away; see q5_0.cpp).
inline void regroup_q5_high_bits(const uint8_t qh[4], uint8_t out[4]) {
  const uint32_t bits = qh[0] | qh[1] << 8 | qh[2] << 16 | static_cast<uint32_t>(qh[3]) << 24;
  for (int i = 0; i < 4; ++i) {
    out[i] = 0;
    for (int j = 0; j < 4; ++j) {
      for (int h = 0; h < 2; ++h) out[i] |= static_cast<uint8_t>(((bits >> (16 * h + 4 * j + i)) & 1) << (2 * j + h));
    }
  }
}

struct block_q5_0x16 {
  uint16_t d[pack_rows];
  uint8_t qh[4 * pack_rows];
  uint8_t qs[4][4 * pack_rows];
};
static_assert(sizeof(block_q5_0x16) == pack_rows * sizeof(block_q5_0));

struct block_q5_1x16 {
  uint16_t d[pack_rows], m[pack_rows];
  uint8_t qh[4 * pack_rows];
  uint8_t qs[4][4 * pack_rows];
};
static_assert(sizeof(block_q5_1x16) == pack_rows * sizeof(block_q5_1));

struct block_iq4_nlx16 {
  uint16_t d[pack_rows];
  uint8_t qs[4][4 * pack_rows];
};
static_assert(sizeof(block_iq4_nlx16) == pack_rows * sizeof(block_iq4_nl));

}  // namespace hearth

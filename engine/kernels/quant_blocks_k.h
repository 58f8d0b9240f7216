#pragma once
// On-disk block layouts of the 256-element super-block types (ggml's K-quants and IQ4_XS),
// identical to ggml's, checked at compile time. Sub-block scales are stored compactly; the
// helpers below unpack them exactly as ggml does.
#include <cstdint>
#include <cstring>

#include "kernels/quant_blocks.h"

namespace hearth {

// x = d * (sc & 15) * q - dmin * (sc >> 4) per 16 elements; q is 2 bits: element 128n + 32k + l
// is bits 2k..2k+1 of qs[32n + l].
struct block_q2_k {
  uint8_t scales[16];  // low nibble: scale, high nibble: min
  uint8_t qs[64];
  uint16_t d, dmin;
};
static_assert(sizeof(block_q2_k) == 84);

// x = d * (sc - 32) * (q - 4) per 16 elements, sc 6 bits (scales_q3_k), q = 2 low bits (as Q2_K)
// plus a high bit: bit 4n + k of hmask[l] for element 128n + 32k + l.
struct block_q3_k {
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(block_q3_k) == 110);

// x = d * sc * q - dmin * m per 32 elements, sc and m 6 bits (scale_min_k4); element 64c + l is
// the low nibble of qs[32c + l], element 64c + 32 + l its high nibble.
struct block_q4_k {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
static_assert(sizeof(block_q4_k) == 144);

// As Q4_K with a fifth bit: bit 2c (low nibbles) or 2c + 1 (high nibbles) of qh[l].
struct block_q5_k {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(block_q5_k) == 176);

// x = d * scales[e / 16] * (q - 32), q 6 bits: for element 128n + 32k + l, the low 4 bits are
// the low (k < 2) or high (k >= 2) nibble of ql[64n + 32(k & 1) + l], the high 2 bits are bits
// 2k..2k+1 of qh[32n + l].
struct block_q6_k {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(block_q6_k) == 210);

// x = d * (ls - 32) * kvalues_iq4nl[nibble] per 32 elements, ls 6 bits (low nibble in scales_l,
// 2 high bits in scales_h); nibbles of each 32 elements as in IQ4_NL.
struct block_iq4_xs {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[4];
  uint8_t qs[128];
};
static_assert(sizeof(block_iq4_xs) == 136);

// Super-blocks of 16 rows for the SIMD kernels (one row per 32-bit lane, see block_q4_0x16):
// fp16 scales of the 16 rows side by side; every byte array of the stored block in 4-byte groups,
// the 16 rows' 4 bytes side by side (64 bytes per group), so one vector load feeds 16 rows. The
// values and their order within a row are the stored ones.
struct block_q2_kx16 {
  uint16_t d[16], dmin[16];
  uint8_t scales[4][64];
  uint8_t qs[16][64];
};
static_assert(sizeof(block_q2_kx16) == 16 * sizeof(block_q2_k));

struct block_q3_kx16 {
  uint16_t d[16];
  uint8_t scales[3][64];
  uint8_t hmask[8][64];
  uint8_t qs[16][64];
};
static_assert(sizeof(block_q3_kx16) == 16 * sizeof(block_q3_k));

struct block_q4_kx16 {
  uint16_t d[16], dmin[16];
  uint8_t scales[3][64];
  uint8_t qs[32][64];
};
static_assert(sizeof(block_q4_kx16) == 16 * sizeof(block_q4_k));

struct block_q5_kx16 {
  uint16_t d[16], dmin[16];
  uint8_t scales[3][64];
  uint8_t qh[8][64];
  uint8_t qs[32][64];
};
static_assert(sizeof(block_q5_kx16) == 16 * sizeof(block_q5_k));

struct block_q6_kx16 {
  uint16_t d[16];
  uint8_t scales[4][64];  // int8
  uint8_t ql[32][64];
  uint8_t qh[16][64];
};
static_assert(sizeof(block_q6_kx16) == 16 * sizeof(block_q6_k));

struct block_iq4_xsx16 {
  uint16_t d[16];
  uint16_t scales_h[16];
  uint8_t scales_l[64];
  uint8_t qs[32][64];
};
static_assert(sizeof(block_iq4_xsx16) == 16 * sizeof(block_iq4_xs));

// The 2-bit levels of Q2_K and Q3_K: element 128n + 32k + l is bits 2k..2k+1 of qs[32n + l].
inline int low_bits(const uint8_t* qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3; }
inline void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int n = 0; n < 2; ++n) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t* p = L + 128 * n + l;
      qs[32 * n + l] = static_cast<uint8_t>(p[0] | p[32] << 2 | p[64] << 4 | p[96] << 6);
    }
  }
}

// The 6-bit scale and min of sub-block j (0..7) of Q4_K / Q5_K (ggml's get_scale_min_k4).
inline void scale_min_k4(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// The 16 6-bit scales of Q3_K, 0..63 (subtract 32 for the signed scale).
inline void scales_q3_k(const uint8_t* packed, uint8_t out[16]) {
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? packed[j] & 0x0f : packed[j - 8] >> 4;
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    out[j] = static_cast<uint8_t>(low | high << 4);
  }
}

// The 6-bit scale of sub-block j (0..7) of IQ4_XS, 0..63 (subtract 32).
inline int scale_iq4_xs(const block_iq4_xs& b, int j) {
  return ((b.scales_l[j / 2] >> (4 * (j % 2))) & 0x0f) | (((b.scales_h >> (2 * j)) & 3) << 4);
}

}  // namespace hearth

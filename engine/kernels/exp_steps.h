#pragma once
// exp(x) for SiLU and attention's softmax as a fixed sequence of IEEE-754 operations, so every
// kernel set (scalar, AVX2, AVX-512) computes the same bits for the same input: the scalar
// function below is the contract, the SIMD sets run the same steps on 4 or 8 double lanes.
//
//   x  clamped to [-104, 89], then taken to double (e^-104 rounds to 0 in float and e^89
//      overflows to infinity, so the clamp changes no result: below and above, 0 and inf)
//   n  = x * log2(e) rounded to the nearest integer, ties to even, by adding and subtracting
//        1.5 * 2^52 (the sum keeps n in its low mantissa bits, which give 2^n below)
//   r  = x - n * ln2_hi, then r = r - n * ln2_lo   (Cody-Waite: ln2_hi ends in 12 zero bits, so
//        n * ln2_hi is exact; |r| <= ln2 / 2 + a little)
//   p  = sum of r^k / k! for k <= 10, by Horner, each step a multiply then an add (Taylor: the
//        remainder is under 2^-42 of the result on that range; double's roundings add ~2^-52)
//   e  = float(p * 2^n)           (2^n built in the exponent bits, exact; one rounding to float)
//
// Only multiplies and adds (no fma, no libm call): the scalar steps compile to plain SSE2 double
// arithmetic in the baseline x86-64 files (the quantized-cache and capped attention call them per
// position), and -ffp-contract=off keeps the compiler from fusing them.
//
// So the result is exp(x) correctly rounded to float except where exp(x) lies within about 2^-42
// (relative) of a midpoint between two floats, then 1 ulp off: glibc's expf, which the forward
// pass used before, is also correctly rounded all but rarely, so the two agree on nearly every
// input. Computing in double costs two vectors per 16 floats, still ~10x faster than expf per
// element. NaN stays NaN. Tested in tests/engine/kernels_test.cpp against exp in double, and
// every set against this function.
#include <cmath>
#include <cstdint>
#include <cstring>

namespace hearth::kernels::exp_steps {

inline constexpr float lo = -104.0f;
inline constexpr float hi = 89.0f;
inline constexpr double log2e = 1.4426950408889634;
inline constexpr double round_magic = 0x1.8p52;  // x + this - this: x rounded to an integer, ties to even
inline constexpr double ln2_hi = 0x1.62e42fefa3000p-1;
inline constexpr double ln2_lo = 0x1.3de6af278ece6p-42;  // ln 2 - ln2_hi, rounded
// 1 / k! for k = 10 down to 2 (the Horner order); the terms for k = 1 and 0 are exactly 1.
inline constexpr double inv_fact[9] = {1.0 / 3628800, 1.0 / 362880, 1.0 / 40320, 1.0 / 5040, 1.0 / 720,
                                       1.0 / 120,     1.0 / 24,     1.0 / 6,     0.5};

// The contract (see the top).
inline float exp(float x) {
  if (std::isnan(x)) return x;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const double xd = x;
  const double shifted = xd * log2e + round_magic;
  const double n = shifted - round_magic;
  double r = xd - n * ln2_hi;
  r = r - n * ln2_lo;
  double p = inv_fact[0];
  for (int k = 1; k < 9; ++k) p = p * r + inv_fact[k];
  p = p * r + 1.0;
  p = p * r + 1.0;
  // The low bits of `shifted` are n (two's complement); plus the bias, into the exponent field.
  uint64_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  bits = (bits + 1023) << 52;
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return static_cast<float>(p * scale);
}

// gate[i] = gate[i] / (1 + exp(-gate[i])) * up[i], from index `from` on: the scalar twin of the
// sets' silu_mul, and their tail.
inline void silu_mul_from(float* gate, const float* up, int64_t from, int64_t n) {
  for (int64_t i = from; i < n; ++i) gate[i] = gate[i] / (1.0f + exp_steps::exp(-gate[i])) * up[i];
}

}  // namespace hearth::kernels::exp_steps

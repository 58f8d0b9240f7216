#pragma once
// Building blocks of the scalar reference kernels (kernels/types/*.cpp, kernels_ref.cpp): plain
// loops, the truth the SIMD kernels are tested against.
//
// Each dot product follows a fixed *recipe*: which lanes accumulate which products, in which order,
// and how the lanes are summed at the end. SIMD twins implement the same recipes, so they agree
// with the reference bit for bit; and a row's result depends only on its own inputs, never on the
// tile it was computed in.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/fp16.h"
#include "kernels/quant_blocks.h"

namespace hearth::kernels {

// Pairwise halving sum of N lanes: lane i + lane i+N/2, and so on down to one (what a vector
// horizontal add does).
template <int N>
float hsum_lanes(float* lanes) {
  for (int w = N / 2; w >= 1; w /= 2) {
    for (int l = 0; l < w; ++l) lanes[l] += lanes[l + w];
  }
  return lanes[0];
}

// The reference matmul: every (activation row, weight row) pair by the type's dot recipe.
template <class W, class X, float (*Dot)(const W*, const X*, int64_t)>
void gemm_ref(int64_t k, const void* w, size_t w_stride, int64_t n, const void* x, size_t x_stride, int64_t m,
              float* y, size_t ldy) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(x);
  for (int64_t i = 0; i < m; ++i) {
    const X* xr = reinterpret_cast<const X*>(xb + i * x_stride);
    for (int64_t j = 0; j < n; ++j) {
      y[i * ldy + j] = Dot(reinterpret_cast<const W*>(wb + j * w_stride), xr, k);
    }
  }
}

// Recipe "Q8S" for 32-element blocks of 8-bit products: each block's dot product is exact in
// int32, then acc = fma(dw * dx, isum, acc) in float, block after block. Any SIMD layout that
// forms the exact integer sum (lanes per row, lanes per activation row, any order of the
// integer adds) gives the same bits. `w_at(block, j)` is weight element j of a block as an int.
template <class WBlock, class Unpack>
float dot_q8s(const WBlock* w, const block_q8_act* x, int64_t k, Unpack w_at) {
  float acc = 0;
  for (int64_t b = 0; b < k / 32; ++b) {
    int32_t isum = 0;
    for (int j = 0; j < 32; ++j) isum += w_at(w[b], j) * x[b].qs[j];
    acc = std::fma(fp16_to_fp32(w[b].d) * x[b].d, static_cast<float>(isum), acc);
  }
  return acc;
}

// Recipe "Q8M" for weights with a per-block minimum (x = q * d + m; Q4_1, Q5_1): one block's
// exact int32 dot product isum of the levels with the activation's q, then
// acc = fma(dw * dx, isum, acc) and acc = fma(m * dx, sum(q), acc).
inline float q8m_step(float acc, float dw, float mw, const block_q8_act& x, int32_t isum) {
  acc = std::fma(dw * x.d, static_cast<float>(isum), acc);
  return std::fma(mw * x.d, static_cast<float>(x.sum), acc);
}

// Recipe "K" for 256-element super-blocks against block_q8_k_act (K-quants, IQ4_XS): the
// super-block's dot product is formed exactly in int32 as isum = sum over sub-blocks of
// (integer scale) * (integer dot of the levels), and msum = sum over sub-blocks of (integer min)
// * (activation sums); then acc = fma(d * dx, isum, acc) and, for types with minimums,
// acc = fma(-(dmin * dx), msum, acc). (ggml sums the same integers with its own float order,
// eight lanes per super-block: results differ from it by float rounding only.)
inline float k_step(float acc, float d, float dx, int32_t isum) {
  return std::fma(d * dx, static_cast<float>(isum), acc);
}
inline float k_step(float acc, float d, float dmin, float dx, int32_t isum, int32_t msum) {
  acc = std::fma(d * dx, static_cast<float>(isum), acc);
  return std::fma(-(dmin * dx), static_cast<float>(msum), acc);
}

}  // namespace hearth::kernels

#pragma once
// The scale searches of llama.cpp's quantizers (ggml-quants.c), which the K-quant, IQ4 and (with
// an importance matrix) legacy weight quantizers share. Same algorithms and rounding, so files
// written with them look like llama-quantize's, with or without an importance matrix.
#include <cmath>
#include <cstdint>

namespace hearth::kernels {

// Round half to even, as ggml's nearest_int (for |f| < 2^22).
inline int nearest_int(float f) { return static_cast<int>(std::nearbyint(f)); }

// The legacy types' importance weighting (ggml's quantize_row_q4_0_impl and siblings): sigma²,
// the mean square of the whole row of k elements ...
inline float row_sigma2(const float* x, int64_t k) {
  float sum_x2 = 0;
  for (int64_t j = 0; j < k; ++j) sum_x2 += x[j] * x[j];
  return sum_x2 / static_cast<float>(k);
}
// ... and the weight of each of a block's n elements: qw[j] * sqrt(sigma² + x[j]²).
inline void importance_weights(int n, const float* x, const float* qw, float sigma2, float* weight) {
  for (int j = 0; j < n; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

// Signed levels: L[i] in [0, 2 nmax) such that x[i] ≈ scale * (L[i] - nmax), the scale chosen
// among 19 candidates around -nmax / max by weighted least squares (rmse_type 1; weights qw[i],
// or x[i]² without qw), or just -nmax / max (rmse_type 0). Returns the scale.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* qw = nullptr);

// Non-negative levels L[i] in [0, nmax] for non-negative x (a super-block's sub-block scales or
// minimums), x[i] ≈ scale * L[i]: the inverse scale chosen among 9 candidates around nmax / max
// by the qw-weighted squared error, then up to 5 passes of coordinate descent on the levels, the
// scale fitted by weighted least squares (ggml's make_qp_quants). Returns the scale.
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* qw);

// Q3_K's variant: levels refined by up to 5 passes of coordinate descent on the x²-weighted
// error. L[i] in [0, 2 nmax). Returns the scale.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L);

// Asymmetric levels: x[i] ≈ scale * L[i] - the_min, L[i] in [0, nmax], the (scale, min) pair
// chosen by weighted least squares over nstep + 1 candidate ranges (errors absolute with
// use_mad, else squared). Laux is scratch of n bytes. Returns the scale; *the_min is >= 0.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);

// Q4_K / Q5_K (ggml's quantize_row_q4_K_ref / q5_K_ref): per 32-element sub-block an
// asymmetric fit by make_qkx2_quants (levels 0..nmax, weights av|x| + |x|, candidates from
// rmin in nstep steps of 0.1), the scales and minimums quantized to 6 bits against the largest
// of each (packed as scale_min_k4 reads them, super-block scales d and dmin), then the levels
// redone against the quantized scales. Writes the 256 levels to L.
void quantize_scale_min_k(const float* x, int nmax, float rmin, int nstep, uint8_t scales[12], uint16_t* d,
                          uint16_t* dmin, uint8_t L[256]);

// Q4_K / Q5_K with an importance matrix (ggml's quantize_row_q4_K_impl / q5_K_impl with
// quant_weights): per 32-element sub-block an asymmetric fit by make_qkx2_quants with weights
// qw[i] * sqrt(sigma² + x[i]²) (sigma² = 2 * the super-block's mean square; candidates from -0.9
// in 36 steps of 0.05: ggml's make_qkx3_quants, which is make_qkx2_quants given weights), the
// scales and minimums quantized to 6 bits by make_qp_quants weighted by each sub-block's weight
// sum, then the levels redone against the quantized values. qw: the super-block's 256 weights.
void quantize_scale_min_k_weighted(const float* x, const float* qw, int nmax, uint8_t scales[12], uint16_t* d,
                                   uint16_t* dmin, uint8_t L[256]);

// The index of the codebook value nearest to x (ties to the lower), as ggml's best_index_int8.
int best_index_int8(int n, const int8_t* values, float x);

// IQ4_NL / IQ4_XS: one super-block of `super` elements in sub-blocks of `sub` (32), scales by
// least squares over 2 ntry + 1 candidates (weights x², or with an importance matrix qw[i] *
// sqrt(sigma² + x[i]²), sigma² = 2 * the super-block's mean square; qw: the super-block's
// `super` weights); for IQ4_XS (super > sub) the sub-block scales are then quantized to 6 bits
// against d = -max_scale / 32. Writes d, the nibbles (as IQ4_NL lays them out per 32 elements)
// and, for IQ4_XS, scales_h / scales_l.
void quantize_iq4_super_block(int super, int sub, const float* x, uint16_t* d, uint8_t* qs, uint16_t* scales_h,
                              uint8_t* scales_l, int ntry, const float* qw = nullptr);

}  // namespace hearth::kernels

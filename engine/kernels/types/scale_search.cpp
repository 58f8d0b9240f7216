#include "kernels/types/scale_search.h"

#include <algorithm>
#include <cstring>

#include "kernels/fp16.h"
#include "kernels/quant_blocks_k.h"

namespace hearth::kernels {

namespace {

constexpr float group_max_eps = 1e-15f;

// The element of largest magnitude, with its sign (the first one on ties); 0 for none.
float signed_max(int n, const float* x, float& amax) {
  float max = 0;
  amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  return max;
}

int clamp_level(int l, int nmax) { return std::max(-nmax, std::min(nmax - 1, l)); }

}  // namespace

float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* qw) {
  float amax;
  const float max = signed_max(n, x, amax);
  if (amax < group_max_eps) {
    std::memset(L, 0, n);
    return 0.0f;
  }
  float iscale = -nmax / max;
  if (rmse_type == 0) {
    for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + clamp_level(nearest_int(iscale * x[i]), nmax));
    return 1 / iscale;
  }
  // Weighted (qw, else x²) fit of the scale for the levels that a candidate inverse scale gives.
  auto fit = [&](float is, float& sumlx, float& suml2, bool store) {
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_level(nearest_int(is * x[i]), nmax);
      if (store) L[i] = static_cast<int8_t>(l + nmax);
      const float w = qw ? qw[i] : x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
  };
  float sumlx, suml2;
  fit(iscale, sumlx, suml2, true);
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    fit(iscale, sumlx, suml2, false);
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      fit(iscale, sumlx, suml2, true);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* qw) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = std::max(max, x[i]);
  if (max < group_max_eps) {
    std::memset(L, 0, n);
    return 0.0f;
  }
  float iscale = nmax / max;
  // As ggml: the first levels unclamped (x <= max), stored in bytes.
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nearest_int(iscale * x[i]));
  float scale = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale * L[i];
    best_mse += qw[i] * diff * diff;
  }
  for (int is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    const float iscale_is = (0.1f * is + nmax) / max;
    const float scale_is = 1 / iscale_is;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::min(nmax, nearest_int(iscale_is * x[i]));
      const float diff = x[i] - scale_is * l;
      mse += qw[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::min(nmax, nearest_int(iscale * x[i]));
    L[i] = static_cast<uint8_t>(l);
    sumlx += qw[i] * x[i] * l;
    suml2 += qw[i] * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = qw[i];
      float slx = sumlx - w * x[i] * L[i];
      float sl2 = suml2 - w * L[i] * L[i];
      if (!(slx > 0 && sl2 > 0)) continue;
      const int new_l = std::min(nmax, nearest_int(x[i] * sl2 / slx));
      if (new_l == L[i]) continue;
      slx += w * x[i] * new_l;
      sl2 += w * new_l * new_l;
      if (slx * slx * suml2 > sumlx * sumlx * sl2) {
        L[i] = static_cast<uint8_t>(new_l);
        sumlx = slx;
        suml2 = sl2;
        ++changed;
      }
    }
    if (!changed) break;
  }
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
  float amax;
  const float max = signed_max(n, x, amax);
  if (amax < group_max_eps) {
    std::memset(L, 0, n);
    return 0.0f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clamp_level(nearest_int(iscale * x[i]), nmax);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx <= 0) continue;
      float sl2 = suml2 - w * L[i] * L[i];
      const int new_l = clamp_level(nearest_int(x[i] * sl2 / slx), nmax);
      if (new_l == L[i]) continue;
      slx += w * x[i] * new_l;
      sl2 += w * new_l * new_l;
      if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
        L[i] = static_cast<int8_t>(new_l);
        sumlx = slx;
        suml2 = sl2;
        ++changed;
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::memset(L, 0, n);
    *the_min = -min;
    return 0.0f;
  }
  auto error_of = [&](const uint8_t* levels, float scale, float mn) {
    float err = 0;
    for (int i = 0; i < n; ++i) {
      float diff = scale * levels[i] + mn - x[i];
      diff = use_mad ? std::fabs(diff) : diff * diff;
      err += weights[i] * diff;
    }
    return err;
  };
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min)))));
  float best_error = error_of(L, scale, min);
  for (int is = 0; nstep >= 1 && is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D <= 0) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    const float err = error_of(Laux, this_scale, this_min);
    if (err < best_error) {
      std::memcpy(L, Laux, n);
      best_error = err;
      scale = this_scale;
      min = this_min;
    }
  }
  *the_min = -min;
  return scale;
}

namespace {

// The 6-bit sub-block scales ls and minimums lm packed as Q4_K/Q5_K hold them, the super-block
// scale and minimum in F16, and every element's level recomputed from those rounded values.
void store_scales_and_levels(const float* x, int nmax, const uint8_t ls[8], const uint8_t lm[8], float d_block,
                             float m_block, uint8_t scales[12], uint16_t* d, uint16_t* dmin, uint8_t L[256]) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = ls[j];
      scales[j + 4] = lm[j];
    } else {
      scales[j + 4] = static_cast<uint8_t>((ls[j] & 0x0f) | (lm[j] & 0x0f) << 4);
      scales[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
  *d = fp32_to_fp16(d_block);
  *dmin = fp32_to_fp16(m_block);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    scale_min_k4(j, scales, sc, m);
    const float ds = fp16_to_fp32(*d) * sc;
    if (!ds) continue;
    const float dm = fp16_to_fp32(*dmin) * m;
    for (int l = 0; l < 32; ++l) {
      L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / ds), 0, nmax));
    }
  }
}

}  // namespace

void quantize_scale_min_k(const float* x, int nmax, float rmin, int nstep, uint8_t scales[12], uint16_t* d,
                          uint16_t* dmin, uint8_t L[256]) {
  uint8_t Laux[32];
  float weights[32], mins[8], sub_scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    sub_scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
    max_scale = std::max(max_scale, sub_scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    // As ggml: the rounded value kept in a byte, then capped at 63.
    ls[j] = static_cast<uint8_t>(std::min(63, static_cast<int>(static_cast<uint8_t>(nearest_int(inv_scale * sub_scales[j])))));
    lm[j] = static_cast<uint8_t>(std::min(63, static_cast<int>(static_cast<uint8_t>(nearest_int(inv_min * mins[j])))));
  }
  store_scales_and_levels(x, nmax, ls, lm, max_scale / 63.0f, max_min / 63.0f, scales, d, dmin, L);
}

void quantize_scale_min_k_weighted(const float* x, const float* qw, int nmax, uint8_t scales[12], uint16_t* d,
                                   uint16_t* dmin, uint8_t L[256]) {
  uint8_t Laux[32], Ls[8], Lm[8];
  float weights[32], sw[8], mins[8], sub_scales[8];
  float sum_x2 = 0;
  for (int l = 0; l < 256; ++l) sum_x2 += x[l] * x[l];
  const float sigma2 = 2 * sum_x2 / 256;
  for (int j = 0; j < 8; ++j) {
    for (int l = 0; l < 32; ++l) weights[l] = qw[32 * j + l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
    float sumw = 0;
    for (int l = 0; l < 32; ++l) sumw += weights[l];
    sw[j] = sumw;
    sub_scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
  }
  const float d_block = make_qp_quants(8, 63, sub_scales, Ls, sw);
  const float m_block = make_qp_quants(8, 63, mins, Lm, sw);
  for (int j = 0; j < 8; ++j) {
    Ls[j] = std::min<uint8_t>(63, Ls[j]);
    Lm[j] = std::min<uint8_t>(63, Lm[j]);
  }
  store_scales_and_levels(x, nmax, Ls, Lm, d_block, m_block, scales, d, dmin, L);
}

int best_index_int8(int n, const int8_t* values, float x) {
  if (x <= values[0]) return 0;
  if (x >= values[n - 1]) return n - 1;
  int lo = 0, hi = n - 1;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    (x < values[mid] ? hi : lo) = mid;
  }
  return x - values[hi - 1] < values[hi] - x ? hi - 1 : hi;
}

void quantize_iq4_super_block(int super, int sub, const float* x, uint16_t* dh, uint8_t* qs, uint16_t* scales_h,
                              uint8_t* scales_l, int ntry, const float* qw) {
  const int8_t* values = kvalues_iq4nl;
  uint8_t L[256];
  float scales[8], weight[32];
  float sigma2 = 0;
  if (qw) {
    for (int j = 0; j < super; ++j) sigma2 += x[j] * x[j];
    sigma2 *= 2.0f / static_cast<float>(super);
  }
  std::memset(qs, 0, super / 2);
  *dh = fp32_to_fp16(0.0f);
  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < super / sub; ++ib) {
    const float* xb = x + ib * sub;
    uint8_t* Lb = L + ib * sub;
    for (int j = 0; j < sub; ++j) weight[j] = qw ? qw[ib * sub + j] * std::sqrt(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
    float amax;
    const float max = signed_max(sub, xb, amax);
    if (amax < group_max_eps) {
      scales[ib] = 0;
      continue;
    }
    // Least squares (weights x²) of the scale for the levels a candidate inverse scale gives.
    auto fit = [&](float id, float& sumqx, float& sumq2, bool store) {
      sumqx = sumq2 = 0;
      for (int j = 0; j < sub; ++j) {
        const int l = best_index_int8(16, values, id * xb[j]);
        if (store) Lb[j] = static_cast<uint8_t>(l);
        const float q = values[l], w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
      }
    };
    float d = ntry > 0 ? -max / values[0] : max / values[0];
    float sumqx, sumq2;
    fit(1 / d, sumqx, sumq2, true);
    d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
    float best = d * sumqx;
    for (int itry = -ntry; itry <= ntry; ++itry) {
      fit((itry + values[0]) / max, sumqx, sumq2, false);
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
    scales[ib] = d;
    if (std::fabs(d) > amax_scale) {
      amax_scale = std::fabs(d);
      max_scale = d;
    }
  }
  if (super / sub > 1) {
    *scales_h = 0;
    const float d = -max_scale / 32;
    *dh = fp32_to_fp16(d);
    const float id = d ? 1 / d : 0.0f;
    for (int ib = 0; ib < super / sub; ++ib) {
      const int l = std::max(-32, std::min(31, nearest_int(id * scales[ib])));
      const float dl = d * l;
      const float idl = dl ? 1 / dl : 0.0f;
      for (int j = 0; j < sub; ++j) L[ib * sub + j] = static_cast<uint8_t>(best_index_int8(16, values, idl * x[ib * sub + j]));
      const int u = l + 32;
      if (ib % 2 == 0) scales_l[ib / 2] = static_cast<uint8_t>(u & 0x0f);
      else scales_l[ib / 2] |= static_cast<uint8_t>((u & 0x0f) << 4);
      *scales_h |= static_cast<uint16_t>((u >> 4) << (2 * ib));
    }
  } else {
    *dh = fp32_to_fp16(scales[0]);
    if (ntry > 0) {
      const float id = scales[0] ? 1 / scales[0] : 0.0f;
      for (int j = 0; j < super; ++j) L[j] = static_cast<uint8_t>(best_index_int8(16, values, id * x[j]));
    }
  }
  for (int i = 0; i < super / 32; ++i) {
    for (int j = 0; j < 16; ++j) qs[16 * i + j] = static_cast<uint8_t>(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
  }
}

}  // namespace hearth::kernels

#pragma once
// Which attention calls the SIMD sets' grouped kernels take (attend_nv<NV>, NV = head size / 16,
// in kernels_avx2.cpp and kernels_avx512.cpp): up to 16 query heads per KV head, and a head size
// of 64, 128, 192 or 256 (every llama-family model). Anything else takes the reference path,
// attend_heads_ref. Also what every set's softmax steps share: the sum of weights, and the float
// accumulators of kernel_set::softmax_rows_f32, written once for a vector-operations struct V
// (v256 in packed_avx2.h, v512 in packed_avx512.h). Header-only; no state.
#include <cstdint>
#include <type_traits>

namespace hearth::kernels {

// Calls grouped(std::integral_constant<int, NV>{}) and returns true when (heads, hd) has a
// grouped kernel; returns false, calling nothing, when it has none.
template <class F>
bool attend_grouped(int64_t heads, int64_t hd, F&& grouped) {
  if (heads > 16) return false;
  switch (hd) {
    case 64: grouped(std::integral_constant<int, 4>{}); return true;
    case 128: grouped(std::integral_constant<int, 8>{}); return true;
    case 192: grouped(std::integral_constant<int, 12>{}); return true;
    case 256: grouped(std::integral_constant<int, 16>{}); return true;
    default: return false;
  }
}

// The online softmax's sum of weights after `count` positions, in position order: w[t] is
// position t's exp, a rescale of the sum where bit t of `raised` says it raised the maximum
// (sum = sum * w + 1), its weight otherwise (sum = sum * 1 + w), as the reference steps do.
inline float softmax_sum(float sum, const float* w, uint32_t raised, int count) {
  for (int t = 0; t < count; ++t) {
    const bool up = raised >> t & 1u;
    sum = sum * (up ? w[t] : 1.0f) + (up ? 1.0f : w[t]);
  }
  return sum;
}

// One head's float accumulators for softmax_rows_f32, NV vectors of them kept in registers
// across `count` positions: position t rescales them by w[t] and adds its row with weight 1 where
// bit t of `raised` is set, else adds its row with weight w[t] (y = y * a, y = fma(v, a, y)). v:
// the positions' rows, hd floats apart.
template <class V, int NV>
void accumulate_rows_f32(float* acc, const float* v, int64_t hd, const float* w, uint32_t raised, int count) {
  constexpr int lanes = V::float_lanes;
  typename V::vf a[NV];
  for (int c = 0; c < NV; ++c) a[c] = V::fload(acc + lanes * c);
  for (int t = 0; t < count; ++t) {
    float vs = w[t];
    if (raised >> t & 1u) {
      const auto ms = V::fset1(w[t]);
      for (auto& x : a) x = V::fmul(x, ms);
      vs = 1.0f;
    }
    const auto vv = V::fset1(vs);
    for (int c = 0; c < NV; ++c) a[c] = V::fmadd(V::fload(v + t * hd + lanes * c), vv, a[c]);
  }
  for (int c = 0; c < NV; ++c) V::fstore(acc + lanes * c, a[c]);
}

// All hd (a multiple of 16) accumulators of one head: 64 floats at a time, then 16.
template <class V>
void accumulate_head_f32(float* acc, const float* v, int64_t hd, const float* w, uint32_t raised, int count) {
  int64_t c = 0;
  for (; c + 64 <= hd; c += 64) accumulate_rows_f32<V, 64 / V::float_lanes>(acc + c, v + c, hd, w, raised, count);
  for (; c < hd; c += 16) accumulate_rows_f32<V, 16 / V::float_lanes>(acc + c, v + c, hd, w, raised, count);
}

}  // namespace hearth::kernels

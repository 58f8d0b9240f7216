#pragma once
// Which attention calls the SIMD sets' grouped kernels take (attend_nv<NV>, NV = head size / 16,
// in kernels_avx2.cpp and kernels_avx512.cpp): up to 16 query heads per KV head, and a head size
// of 64, 128, 192 or 256 (every llama-family model). Anything else takes the reference path,
// attend_heads_ref. Also the steps' sum of weights, which every set's kernels share.
// Header-only; no state.
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

}  // namespace hearth::kernels

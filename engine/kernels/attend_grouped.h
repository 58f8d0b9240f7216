#pragma once
// Which attention calls the SIMD sets' grouped kernels take (attend_nv<NV>, NV = head size / 16,
// in kernels_avx2.cpp and kernels_avx512.cpp): up to 16 query heads per KV head, and a head size
// of 64, 128, 192 or 256 (every llama-family model). Anything else takes the reference path,
// attend_heads_ref. Header-only; no state.
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

}  // namespace hearth::kernels

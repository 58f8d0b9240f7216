// AVX-512 VNNI block kernels of the 32-element types over their 16-row packed layouts (recipes
// Q8S and Q8M of recipes.h, bit-exact with the scalar twins in types/*.cpp). Weights are
// unsigned bytes for vpdpbusd; a type's offset is folded out through the activation block's sum.
#include "kernels/packed_avx512.h"

namespace hearth::kernels {

namespace {

using namespace v512;

// Recipe Q8S over 8 element groups of unsigned weights with the given offset:
// isum = -offset * sum(x) + sum(w * x), then acc = fma(dw * dx, isum, acc).
template <int C, class Weights>
inline void q8s_block(const uint16_t* d, int offset, const block_q8_act* const* x, __m512* acc, Weights weight_group) {
  __m512i isum[C];
  for (int c = 0; c < C; ++c) isum[c] = _mm512_set1_epi32(-offset * x[c]->sum);
  for (int jj = 0; jj < 8; ++jj) {
    const __m512i wv = weight_group(jj);
    for (int c = 0; c < C; ++c) isum[c] = _mm512_dpbusd_epi32(isum[c], wv, bcast32(x[c]->qs + 4 * jj));
  }
  const __m512 dw = load_fp16x16(d);
  for (int c = 0; c < C; ++c) acc[c] = scale_add(acc[c], dw, x[c]->d, isum[c]);
}

// Q8_0, stored +128.
struct q8_0_kernel {
  using act = block_q8_act;
  static constexpr size_t block_bytes = sizeof(block_q8_0x16);
  static constexpr size_t prefetch = 0;
  static constexpr int prefetch_rows = 0;
  template <int C>
  static void block(const uint8_t* w, const act* const* x, __m512* acc) {
    const auto* b = reinterpret_cast<const block_q8_0x16*>(w);
    q8s_block<C>(b->d, 128, x, acc, [&](int jj) { return load(b->qs[jj]); });
  }
};

// Q4_0: group jj < 4 is the low nibbles of bytes 4jj.., jj >= 4 the high nibbles; offset 8.
struct q4_0_kernel {
  using act = block_q8_act;
  static constexpr size_t block_bytes = sizeof(block_q4_0x16);
  static constexpr size_t prefetch = 0;
  static constexpr int prefetch_rows = 0;
  template <int C>
  static void block(const uint8_t* w, const act* const* x, __m512* acc) {
    const auto* b = reinterpret_cast<const block_q4_0x16*>(w);
    q8s_block<C>(b->d, 8, x, acc, [&](int jj) {
      const __m512i raw = load(b->qs[jj & 3]);
      return jj < 4 ? low_nibbles(raw) : high_nibbles(raw);
    });
  }
};

}  // namespace

void add_quants_avx512(kernel_set& k) {
  k.gemm_packed[static_cast<int>(ggml_type::q8_0)] = v512::gemm_packed<q8_0_kernel, 32>;
  k.gemm_packed[static_cast<int>(ggml_type::q4_0)] = v512::gemm_packed<q4_0_kernel, 32>;
}

}  // namespace hearth::kernels

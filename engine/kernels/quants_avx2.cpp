// AVX2 block kernels of the 32-element types over their 16-row packed layouts (recipes Q8S and
// Q8M of recipes.h), bit-exact with the scalar twins in types/*.cpp.
#include "kernels/packed_avx2.h"

namespace hearth::kernels {

namespace {

using namespace v256;

// Recipe Q8S for each half of 8 rows: isum = -offset * sum(x) + sum(w * x) over 8 element
// groups, then acc = fma(dw * dx, isum, acc). `weights(jj, h)` is group jj's weight vector,
// `dot(acc, w, x)` adds its products.
template <int C, class Weights, class Dot>
inline void q8s_block(const uint16_t* d, int offset, const block_q8_act* const* x, __m256* acc, Weights weights,
                      Dot dot) {
  for (int h = 0; h < 2; ++h) {
    __m256i isum[C];
    for (int c = 0; c < C; ++c) isum[c] = _mm256_set1_epi32(-offset * x[c]->sum);
    for (int jj = 0; jj < 8; ++jj) {
      const __m256i wv = weights(jj, h);
      for (int c = 0; c < C; ++c) isum[c] = dot(isum[c], wv, bcast32(x[c]->qs + 4 * jj));
    }
    const __m256 dw = load_fp16x8(d, h);
    for (int c = 0; c < C; ++c) acc[h * C + c] = scale_add(acc[h * C + c], dw, x[c]->d, isum[c]);
  }
}

// Q8_0, stored +128: back to signed, then |w| * sign(x, w) keeps every pair sum within int16.
struct q8_0_kernel {
  using act = block_q8_act;
  static constexpr size_t block_bytes = sizeof(block_q8_0x16);
  static constexpr size_t prefetch = 0;
  static constexpr int prefetch_rows = 0;
  template <int C>
  static void block(const uint8_t* w, const act* const* x, __m256* acc) {
    const auto* b = reinterpret_cast<const block_q8_0x16*>(w);
    q8s_block<C>(
        b->d, 0, x, acc,
        [&](int jj, int h) { return _mm256_xor_si256(load_half(b->qs[jj], h), _mm256_set1_epi8(static_cast<char>(0x80))); },
        [](__m256i a, __m256i ws, __m256i xv) {
          const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(ws, ws), _mm256_sign_epi8(xv, ws));
          return _mm256_add_epi32(a, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
        });
  }
};

// Q4_0: group jj < 4 is the low nibbles of bytes 4jj.., jj >= 4 the high nibbles; offset 8.
struct q4_0_kernel {
  using act = block_q8_act;
  static constexpr size_t block_bytes = sizeof(block_q4_0x16);
  static constexpr size_t prefetch = 0;
  static constexpr int prefetch_rows = 0;
  template <int C>
  static void block(const uint8_t* w, const act* const* x, __m256* acc) {
    const auto* b = reinterpret_cast<const block_q4_0x16*>(w);
    q8s_block<C>(
        b->d, 8, x, acc,
        [&](int jj, int h) {
          const __m256i raw = load_half(b->qs[jj & 3], h);
          return jj < 4 ? low_nibbles(raw) : high_nibbles(raw);
        },
        dot_u8s8);
  }
};

}  // namespace

void add_quants_avx2(kernel_set& k) {
  k.gemm_packed[static_cast<int>(ggml_type::q8_0)] = v256::gemm_packed<q8_0_kernel, 32>;
  k.gemm_packed[static_cast<int>(ggml_type::q4_0)] = v256::gemm_packed<q4_0_kernel, 32>;
}

}  // namespace hearth::kernels

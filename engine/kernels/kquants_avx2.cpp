// AVX2 block kernels of the 256-element types over their 16-row packed layouts
// (quant_blocks_k.h), bit-exact with the scalar recipe K (recipes.h); the same integer steps as
// kquants_avx512.cpp, eight rows per half.
#include "kernels/packed_avx2.h"
#include "kernels/quant_blocks_k.h"

namespace hearth::kernels {

namespace {

using namespace v256;

// Q4_K: see kquants_avx512.cpp.
struct q4_k_kernel {
  using act = block_q8_k_act;
  static constexpr size_t block_bytes = sizeof(block_q4_kx16);
  static constexpr size_t prefetch = 2048;
  static constexpr int prefetch_rows = 1;
  template <int C>
  static void block(const uint8_t* w, const act* const* x, __m256* acc) {
    const auto* b = reinterpret_cast<const block_q4_kx16*>(w);
    for (int h = 0; h < 2; ++h) {
      const __m256i u0 = load_half(b->scales[0], h), u1 = load_half(b->scales[1], h), u2 = load_half(b->scales[2], h);
      const __m256i k1 = _mm256_set1_epi32(0x3f3f3f3f), k2 = _mm256_set1_epi32(0x0f0f0f0f);
      const __m256i k3 = _mm256_set1_epi32(0x03030303);
      const __m256i sc[2] = {
          _mm256_and_si256(u0, k1),
          _mm256_or_si256(_mm256_and_si256(u2, k2), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u0, 6), k3), 4))};
      const __m256i mn[2] = {
          _mm256_and_si256(u1, k1),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), k2),
                          _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), k3), 4))};
      __m256i isum[C], msum[C];
      for (int c = 0; c < C; ++c) isum[c] = msum[c] = _mm256_setzero_si256();
      for (int ch = 0; ch < 4; ++ch) {
        __m256i lo[C], hi[C];
        for (int c = 0; c < C; ++c) lo[c] = hi[c] = _mm256_setzero_si256();
        for (int jj = 0; jj < 8; ++jj) {
          const __m256i raw = load_half(b->qs[8 * ch + jj], h);
          const __m256i wl = low_nibbles(raw), wh = high_nibbles(raw);
          for (int c = 0; c < C; ++c) {
            lo[c] = dot_u8s8(lo[c], wl, bcast32(x[c]->qs + 64 * ch + 4 * jj));
            hi[c] = dot_u8s8(hi[c], wh, bcast32(x[c]->qs + 64 * ch + 32 + 4 * jj));
          }
        }
        const __m256i sl = lane_byte(sc[ch / 2], 2 * (ch % 2)), sh = lane_byte(sc[ch / 2], 2 * (ch % 2) + 1);
        for (int c = 0; c < C; ++c) {
          isum[c] = _mm256_add_epi32(isum[c], _mm256_add_epi32(_mm256_mullo_epi32(lo[c], sl), _mm256_mullo_epi32(hi[c], sh)));
        }
      }
      for (int g = 0; g < 2; ++g) {
        const __m256i even = even_bytes16(mn[g]), odd = odd_bytes16(mn[g]);
        for (int c = 0; c < C; ++c) {
          const int16_t* bs = x[c]->bsums + 8 * g;
          const int s0 = bs[0] + bs[1], s1 = bs[2] + bs[3], s2 = bs[4] + bs[5], s3 = bs[6] + bs[7];
          msum[c] = dot_s16(msum[c], even, bcast_pair(s0, s2));
          msum[c] = dot_s16(msum[c], odd, bcast_pair(s1, s3));
        }
      }
      const __m256 d = load_fp16x8(b->d, h), dmin = load_fp16x8(b->dmin, h);
      for (int c = 0; c < C; ++c) {
        acc[h * C + c] = scale_sub(scale_add(acc[h * C + c], d, x[c]->d, isum[c]), dmin, x[c]->d, msum[c]);
      }
    }
  }
};

// Q6_K: see kquants_avx512.cpp. Levels up to 63 keep vpmaddubsw's pair sums within int16.
struct q6_k_kernel {
  using act = block_q8_k_act;
  static constexpr size_t block_bytes = sizeof(block_q6_kx16);
  static constexpr size_t prefetch = 2048;
  static constexpr int prefetch_rows = 3;
  template <int C>
  static void block(const uint8_t* w, const act* const* x, __m256* acc) {
    const auto* b = reinterpret_cast<const block_q6_kx16*>(w);
    const __m256i m30 = _mm256_set1_epi8(0x30);
    for (int hf = 0; hf < 2; ++hf) {
      __m256i isum[C], corr[C];
      for (int c = 0; c < C; ++c) isum[c] = corr[c] = _mm256_setzero_si256();
      for (int n = 0; n < 2; ++n) {
        for (int k = 0; k < 4; ++k) {
          for (int h = 0; h < 2; ++h) {
            const int j = 8 * n + 2 * k + h;
            __m256i s[C];
            for (int c = 0; c < C; ++c) s[c] = _mm256_setzero_si256();
            for (int jj = 4 * h; jj < 4 * h + 4; ++jj) {
              const __m256i L = load_half(b->ql[16 * n + 8 * (k & 1) + jj], hf), H = load_half(b->qh[8 * n + jj], hf);
              const __m256i low = k < 2 ? low_nibbles(L) : high_nibbles(L);
              const __m256i high = _mm256_and_si256(k < 2 ? shift_left16(H, 4 - 2 * k) : shift_right16(H, 2 * k - 4), m30);
              const __m256i q = _mm256_or_si256(low, high);
              for (int c = 0; c < C; ++c) s[c] = dot_u8s8(s[c], q, bcast32(x[c]->qs + 128 * n + 32 * k + 4 * jj));
            }
            const __m256i sc = lane_byte_signed(load_half(b->scales[j / 4], hf), j % 4);
            for (int c = 0; c < C; ++c) isum[c] = _mm256_add_epi32(isum[c], _mm256_mullo_epi32(s[c], sc));
          }
        }
      }
      for (int g = 0; g < 4; ++g) {
        const __m256i v = load_half(b->scales[g], hf);
        const __m256i even = even_bytes16_signed(v), odd = odd_bytes16_signed(v);
        for (int c = 0; c < C; ++c) {
          const int16_t* bs = x[c]->bsums + 4 * g;
          corr[c] = dot_s16(corr[c], even, bcast_pair(bs[0], bs[2]));
          corr[c] = dot_s16(corr[c], odd, bcast_pair(bs[1], bs[3]));
        }
      }
      const __m256 d = load_fp16x8(b->d, hf);
      for (int c = 0; c < C; ++c) {
        acc[hf * C + c] = scale_add(acc[hf * C + c], d, x[c]->d, _mm256_sub_epi32(isum[c], _mm256_slli_epi32(corr[c], 5)));
      }
    }
  }
};

}  // namespace

void add_kquants_avx2(kernel_set& k) {
  k.gemm_packed[static_cast<int>(ggml_type::q4_k)] = v256::gemm_packed<q4_k_kernel, qk_k>;
  k.gemm_packed[static_cast<int>(ggml_type::q6_k)] = v256::gemm_packed<q6_k_kernel, qk_k>;
}

}  // namespace hearth::kernels

// AVX-512 VNNI block kernels of the 256-element types over their 16-row packed layouts
// (quant_blocks_k.h), bit-exact with the scalar recipe K (recipes.h): every super-block's dot
// product is formed exactly in int32 (vpdpbusd over unsigned levels, the sub-block scale
// applied with vpmulld, minimums and level offsets folded out with vpdpwssd against the
// activation's 16-element sums), then one or two FMAs per row lane.
#include "kernels/packed_avx512.h"
#include "kernels/quant_blocks_k.h"

namespace hearth::kernels {

namespace {

using namespace v512;

// Q4_K: 8 sub-blocks of 32; chunk c of 64 elements is qs groups 8c..8c+7, low nibbles sub-block
// 2c, high nibbles 2c + 1.
struct q4_k_kernel {
  using act = block_q8_k_act;
  static constexpr size_t block_bytes = sizeof(block_q4_kx16);
  static constexpr size_t prefetch = 2048;
  static constexpr int prefetch_rows = 2;
  template <int C>
  static void block(const uint8_t* w, const act* const* x, __m512* acc) {
    const auto* b = reinterpret_cast<const block_q4_kx16*>(w);
    // ggml's get_scale_min_k4 on each lane's 12 bytes: scales 0-3, 4-7, minimums 0-3, 4-7.
    const __m512i u0 = load(b->scales[0]), u1 = load(b->scales[1]), u2 = load(b->scales[2]);
    const __m512i k1 = _mm512_set1_epi32(0x3f3f3f3f), k2 = _mm512_set1_epi32(0x0f0f0f0f);
    const __m512i k3 = _mm512_set1_epi32(0x03030303);
    const __m512i sc[2] = {
        _mm512_and_si512(u0, k1),
        _mm512_or_si512(_mm512_and_si512(u2, k2), _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), k3), 4))};
    const __m512i mn[2] = {
        _mm512_and_si512(u1, k1),
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), k2),
                        _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), k3), 4))};
    __m512i isum[C], msum[C];
    for (int c = 0; c < C; ++c) isum[c] = msum[c] = _mm512_setzero_si512();
    for (int ch = 0; ch < 4; ++ch) {
      __m512i lo[C], hi[C];
      for (int c = 0; c < C; ++c) lo[c] = hi[c] = _mm512_setzero_si512();
      for (int jj = 0; jj < 8; ++jj) {
        const __m512i raw = load(b->qs[8 * ch + jj]);
        const __m512i wl = low_nibbles(raw), wh = high_nibbles(raw);
        for (int c = 0; c < C; ++c) {
          lo[c] = _mm512_dpbusd_epi32(lo[c], wl, bcast32(x[c]->qs + 64 * ch + 4 * jj));
          hi[c] = _mm512_dpbusd_epi32(hi[c], wh, bcast32(x[c]->qs + 64 * ch + 32 + 4 * jj));
        }
      }
      const __m512i sl = lane_byte(sc[ch / 2], 2 * (ch % 2)), sh = lane_byte(sc[ch / 2], 2 * (ch % 2) + 1);
      for (int c = 0; c < C; ++c) {
        isum[c] = _mm512_add_epi32(isum[c], _mm512_add_epi32(_mm512_mullo_epi32(lo[c], sl), _mm512_mullo_epi32(hi[c], sh)));
      }
    }
    // Minimums times the 32-element activation sums, two sub-blocks per vpdpwssd.
    for (int h = 0; h < 2; ++h) {
      const __m512i even = even_bytes16(mn[h]), odd = odd_bytes16(mn[h]);
      for (int c = 0; c < C; ++c) {
        const int16_t* bs = x[c]->bsums + 8 * h;
        const int s0 = bs[0] + bs[1], s1 = bs[2] + bs[3], s2 = bs[4] + bs[5], s3 = bs[6] + bs[7];
        msum[c] = _mm512_dpwssd_epi32(msum[c], even, bcast_pair(s0, s2));
        msum[c] = _mm512_dpwssd_epi32(msum[c], odd, bcast_pair(s1, s3));
      }
    }
    const __m512 d = load_fp16x16(b->d), dmin = load_fp16x16(b->dmin);
    for (int c = 0; c < C; ++c) acc[c] = scale_sub(scale_add(acc[c], d, x[c]->d, isum[c]), dmin, x[c]->d, msum[c]);
  }
};

// Q6_K: 16 sub-blocks of 16. Element 128n + 32k + l: low nibble (k < 2) or high nibble of ql
// group 16n + 8(k & 1) + l/4, two high bits 2k..2k+1 of qh group 8n + l/4. Levels are unsigned
// (0..63); the -32 is folded out as 32 * sum_j scale_j * bsums_j.
struct q6_k_kernel {
  using act = block_q8_k_act;
  static constexpr size_t block_bytes = sizeof(block_q6_kx16);
  static constexpr size_t prefetch = 2048;
  static constexpr int prefetch_rows = 4;

  // Level k of element group jj: the nibble of L (low for k < 2) below the two bits of H that
  // shift into bits 4-5 (one select, one mask).
  static __m512i level(__m512i L, __m512i H, int k) {
    const __m512i lo = k < 2 ? L : _mm512_srli_epi16(L, 4);
    const __m512i hi = k < 2 ? shift_left16(H, 4 - 2 * k) : shift_right16(H, 2 * k - 4);
    // (lo & 0x0f) | (hi & 0xf0), then the two top bits cleared.
    return _mm512_and_si512(_mm512_ternarylogic_epi32(lo, hi, _mm512_set1_epi8(0x0f), 0xe4), _mm512_set1_epi8(0x3f));
  }

  // isum += scale_j * s, per row lane.
  template <int C>
  static void add_scaled(__m512i* isum, const __m512i* s, const block_q6_kx16* b, int j) {
    const __m512i sc = lane_byte_signed(load(b->scales[j / 4]), j % 4);
    for (int c = 0; c < C; ++c) isum[c] = _mm512_add_epi32(isum[c], _mm512_mullo_epi32(s[c], sc));
  }

  template <int C>
  static void block(const uint8_t* w, const act* const* x, __m512* acc) {
    const auto* b = reinterpret_cast<const block_q6_kx16*>(w);
    __m512i isum[C], corr[C];
    for (int c = 0; c < C; ++c) isum[c] = corr[c] = _mm512_setzero_si512();
    for (int n = 0; n < 2; ++n) {
      for (int h = 0; h < 2; ++h) {
        if constexpr (C <= 2) {
          // Sub-blocks 8n + 2k + h for k = 0..3 from element groups jj = 4h..4h+3: each ql and
          // qh vector is loaded once for its four levels.
          __m512i s[4][C];
          for (auto& sk : s)
            for (auto& v : sk) v = _mm512_setzero_si512();
          for (int jj = 4 * h; jj < 4 * h + 4; ++jj) {
            const __m512i L0 = load(b->ql[16 * n + jj]), L1 = load(b->ql[16 * n + 8 + jj]), H = load(b->qh[8 * n + jj]);
            for (int k = 0; k < 4; ++k) {
              const __m512i q = level(k & 1 ? L1 : L0, H, k);
              for (int c = 0; c < C; ++c) {
                s[k][c] = _mm512_dpbusd_epi32(s[k][c], q, bcast32(x[c]->qs + 128 * n + 32 * k + 4 * jj));
              }
            }
          }
          for (int k = 0; k < 4; ++k) add_scaled<C>(isum, s[k], b, 8 * n + 2 * k + h);
        } else {
          // More activation rows: one sub-block at a time (fewer live accumulators).
          for (int k = 0; k < 4; ++k) {
            __m512i s[C];
            for (auto& v : s) v = _mm512_setzero_si512();
            for (int jj = 4 * h; jj < 4 * h + 4; ++jj) {
              const __m512i q = level(load(b->ql[16 * n + 8 * (k & 1) + jj]), load(b->qh[8 * n + jj]), k);
              for (int c = 0; c < C; ++c) s[c] = _mm512_dpbusd_epi32(s[c], q, bcast32(x[c]->qs + 128 * n + 32 * k + 4 * jj));
            }
            add_scaled<C>(isum, s, b, 8 * n + 2 * k + h);
          }
        }
      }
    }
    for (int g = 0; g < 4; ++g) {
      const __m512i v = load(b->scales[g]);
      const __m512i even = even_bytes16_signed(v), odd = odd_bytes16_signed(v);
      for (int c = 0; c < C; ++c) {
        const int16_t* bs = x[c]->bsums + 4 * g;
        corr[c] = _mm512_dpwssd_epi32(corr[c], even, bcast_pair(bs[0], bs[2]));
        corr[c] = _mm512_dpwssd_epi32(corr[c], odd, bcast_pair(bs[1], bs[3]));
      }
    }
    const __m512 d = load_fp16x16(b->d);
    for (int c = 0; c < C; ++c) {
      acc[c] = scale_add(acc[c], d, x[c]->d, _mm512_sub_epi32(isum[c], _mm512_slli_epi32(corr[c], 5)));
    }
  }
};

}  // namespace

void add_kquants_avx512(kernel_set& k) {
  k.gemm_packed[static_cast<int>(ggml_type::q4_k)] = v512::gemm_packed<q4_k_kernel, qk_k>;
  k.gemm_packed[static_cast<int>(ggml_type::q6_k)] = v512::gemm_packed<q6_k_kernel, qk_k>;
}

}  // namespace hearth::kernels

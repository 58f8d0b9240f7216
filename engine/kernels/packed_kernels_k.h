#pragma once
// Block kernels of the 256-element types over their 16-row packed super-blocks
// (quant_blocks_k.h), for any vector-operations struct V (see packed_ops.h), bit-exact with the
// scalar recipe K (recipes.h): every super-block's dot product is formed exactly in int32 (dpbusd
// over unsigned levels per sub-block, times the row's integer sub-block scale with vpmulld;
// minimums and level offsets folded out with dpwssd against the activation's 16-element sums),
// then one or two FMAs per row lane.
#include <cstddef>
#include <type_traits>

#include "kernels/kernels.h"
#include "kernels/packed_ops.h"
#include "kernels/quant_blocks_k.h"

namespace hearth::kernels::packed {

template <class Block, int PrefetchRows>
struct k_layout {
  using act = block_q8_k_act;
  static constexpr int elements = qk_k;
  static constexpr size_t block_bytes = sizeof(Block);
  static constexpr size_t prefetch = 2048;
  static constexpr int prefetch_rows = PrefetchRows;
};

// out[c] = sum over i < 8 of the int16 pairs of w[i] (per row lane) times the activation's
// 16-element sums bsums[2i], bsums[2i + 1]: the pairs are read straight from the activation block
// as one broadcast dword, so no scalar work per activation row.
template <class V, int C>
inline void bsum_dot(typename V::vi* out, const typename V::vi* w, const block_q8_k_act* const* x) {
  for (int c = 0; c < C; ++c) {
    out[c] = V::zero();
    for (int i = 0; i < 8; ++i) out[c] = V::dpwssd(out[c], w[i], V::bcast32(x[c]->bsums + 2 * i));
  }
}

// Bytes (b0, b1, b2, b3) of each 32-bit lane reordered to (b0, b2, b1, b3), so that the even
// bytes are b0, b1 and the odd bytes b2, b3: the per-row values of four consecutive
// sub-blocks as two int16 pairs in the order of the activation's bsums.
template <class V>
inline typename V::vi pairs_in_order(typename V::vi v) {
  static constexpr uint8_t order[16] = {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15};
  return V::lookup(v, V::table16(order));
}

// Q4_K and Q5_K: 8 sub-blocks of 32; chunk ch of 64 elements is qs groups 8ch..8ch+7, low
// nibbles sub-block 2ch, high nibbles 2ch + 1; Q5_K's fifth bits are bit 2ch (low) or 2ch + 1
// (high) of qh group jj.
template <class V, bool Five>
struct q45_k_kernel : k_layout<std::conditional_t<Five, block_q5_kx16, block_q4_kx16>, 2> {
  using B = std::conditional_t<Five, block_q5_kx16, block_q4_kx16>;
  using vi = typename V::vi;
  using O = ops<V>;
  // Shuffle controls: byte i of each 32-bit lane, zero-extended, in both int16 halves.
  static constexpr uint8_t min_pair_select[4][16] = {
      {0, 0x80, 0, 0x80, 4, 0x80, 4, 0x80, 8, 0x80, 8, 0x80, 12, 0x80, 12, 0x80},
      {1, 0x80, 1, 0x80, 5, 0x80, 5, 0x80, 9, 0x80, 9, 0x80, 13, 0x80, 13, 0x80},
      {2, 0x80, 2, 0x80, 6, 0x80, 6, 0x80, 10, 0x80, 10, 0x80, 14, 0x80, 14, 0x80},
      {3, 0x80, 3, 0x80, 7, 0x80, 7, 0x80, 11, 0x80, 11, 0x80, 15, 0x80, 15, 0x80}};

  // The levels of sub-block 2ch + hi in element group jj.
  template <int hi, int jj>
  static vi levels(const B* b, int ch, int h) {
    const vi raw = V::load(b->qs[8 * ch + jj], h);
    if constexpr (Five) {
      const vi fifth = V::and_(O::bit_to(V::load(b->qh[jj], h), 2 * ch + hi, 4), V::bytes(0x10));
      return V::select(hi ? V::srl16(raw, 4) : raw, fifth, V::bytes(0x0f));
    } else {
      return hi ? O::high_nibbles(raw) : O::low_nibbles(raw);
    }
  }

  template <int C>
  static void block(const uint8_t* w, const block_q8_k_act* const* x, typename V::vf* acc) {
    const B* b = reinterpret_cast<const B*>(w);
    static_for<0, V::halves>([&]<int h>(ic<h>) {
      // ggml's get_scale_min_k4 on each lane's 12 bytes: scales 0-3, 4-7, minimums 0-3, 4-7.
      const vi k1 = V::dwords(0x3f3f3f3f), k2 = V::dwords(0x0f0f0f0f), k3 = V::dwords(0x03030303);
      const vi u0 = V::load(b->scales[0], h), u2 = V::load(b->scales[2], h);
      const vi sc[2] = {V::and_(u0, k1), V::or_(V::and_(u2, k2), V::sll32(V::and_(V::srl32(u0, 6), k3), 4))};
      vi isum[C];
      for (int c = 0; c < C; ++c) isum[c] = V::zero();
      // A loop at run time: unrolled, the four chunks measured ~25% slower in tiles of 4 rows.
#pragma GCC unroll 1
      for (int ch = 0; ch < 4; ++ch) {
        const vi sl = O::lane_byte(sc[ch / 2], 2 * (ch % 2)), sh = O::lane_byte(sc[ch / 2], 2 * (ch % 2) + 1);
        // Each loaded vector feeds both sub-blocks of the chunk.
        vi lo[C], hi[C];
        for (int c = 0; c < C; ++c) lo[c] = hi[c] = V::zero();
        static_for<0, 8>([&]<int jj>(ic<jj>) {
          const vi wl = levels<0, jj>(b, ch, h), wh = levels<1, jj>(b, ch, h);
          for (int c = 0; c < C; ++c) {
            lo[c] = V::dpbusd(lo[c], wl, V::bcast32(x[c]->qs + 64 * ch + 4 * jj));
            hi[c] = V::dpbusd(hi[c], wh, V::bcast32(x[c]->qs + 64 * ch + 32 + 4 * jj));
          }
        });
        for (int c = 0; c < C; ++c) isum[c] = V::add(isum[c], V::add(V::mullo(lo[c], sl), V::mullo(hi[c], sh)));
      }
      // Minimums times the 32-element activation sums: min j (byte j % 4 of mn[j / 4]) in both
      // int16 halves of each lane, against the two 16-element sums of sub-block j.
      const vi u1 = V::load(b->scales[1], h);
      const vi mn[2] = {V::and_(u1, k1), V::or_(V::and_(V::srl32(u2, 4), k2), V::sll32(V::and_(V::srl32(u1, 6), k3), 4))};
      vi mw[8], msum[C];
      for (int j = 0; j < 8; ++j) mw[j] = V::lookup(mn[j / 4], V::table16(min_pair_select[j % 4]));
      bsum_dot<V, C>(msum, mw, x);
      const typename V::vf d = V::load_fp16(b->d, h), dmin = V::load_fp16(b->dmin, h);
      for (int c = 0; c < C; ++c) {
        acc[h * C + c] = V::scale_sub(V::scale_add(acc[h * C + c], d, x[c]->d, isum[c]), dmin, x[c]->d, msum[c]);
      }
    });
  }
};

// The types of 16 sub-blocks of 16 (Q2_K, Q3_K, Q6_K): element 128n + 32k + l belongs to
// sub-block 8n + 2k + l/16. `level(n, k, jj)` gives the unsigned levels of element group jj
// (l = 4jj..4jj+3); `scaled(s, j)` adds sub-block j's integer sums times its scale (the indices
// are ints, or ic<> constants where the loops are unrolled at compile time).
// Few activation rows: each group's inputs feed the four k at once; more rows: one sub-block at
// a time, so fewer accumulators stay live.
template <class V, int C, class Level, class Scaled>
inline void sub16_sums(const block_q8_k_act* const* x, Level level, Scaled scaled) {
  using vi = typename V::vi;
  if constexpr (C <= 2) {
    // Loops at run time: fully unrolled (as below), decode (C = 1) measured 25-45% slower.
    for (int n = 0; n < 2; ++n) {
      for (int hh = 0; hh < 2; ++hh) {
        vi s[4][C];
        for (auto& sk : s)
          for (auto& v : sk) v = V::zero();
        for (int jj = 4 * hh; jj < 4 * hh + 4; ++jj) {
          for (int k = 0; k < 4; ++k) {
            const vi q = level(n, k, jj);
            for (int c = 0; c < C; ++c) s[k][c] = V::dpbusd(s[k][c], q, V::bcast32(x[c]->qs + 128 * n + 32 * k + 4 * jj));
          }
        }
        for (int k = 0; k < 4; ++k) scaled(s[k], 8 * n + 2 * k + hh);
      }
    }
  } else {
    static_for<0, 2>([&]<int n>(ic<n>) {
      static_for<0, 2>([&]<int hh>(ic<hh>) {
        static_for<0, 4>([&]<int k>(ic<k>) {
          vi s[C];
          for (auto& v : s) v = V::zero();
          static_for<4 * hh, 4 * hh + 4>([&]<int jj>(ic<jj>) {
            const vi q = level(ic<n>{}, ic<k>{}, ic<jj>{});
            for (int c = 0; c < C; ++c) s[c] = V::dpbusd(s[c], q, V::bcast32(x[c]->qs + 128 * n + 32 * k + 4 * jj));
          });
          scaled(s, ic<8 * n + 2 * k + hh>{});
        });
      });
    });
  }
}

// Q6_K: levels 0..63 from a nibble of ql group 16n + 8(k & 1) + jj (low for k < 2) and bits
// 2k..2k+1 of qh group 8n + jj; int8 scales; the -32 is folded out as 32 * sum_j sc_j * bsums_j.
template <class V>
struct q6_k_kernel : k_layout<block_q6_kx16, 4> {
  using vi = typename V::vi;
  using O = ops<V>;

  template <int C>
  static void block(const uint8_t* w, const block_q8_k_act* const* x, typename V::vf* acc) {
    const auto* b = reinterpret_cast<const block_q6_kx16*>(w);
    static_for<0, V::halves>([&]<int h>(ic<h>) {
      vi isum[C];
      for (int c = 0; c < C; ++c) isum[c] = V::zero();
      sub16_sums<V, C>(
          x,
          [&](auto n, auto k, auto jj) {
            const vi L = V::load(b->ql[16 * n + 8 * (k & 1) + jj], h), H = V::load(b->qh[8 * n + jj], h);
            // (nibble & 0x0f) | (the two bits moved to 4-5), top bits cleared.
            const vi q = V::select(k < 2 ? L : V::srl16(L, 4), O::bit_to(H, 2 * k, 4), V::bytes(0x0f));
            return V::and_(q, V::bytes(0x3f));
          },
          [&](const vi* s, auto j) {
            const vi sc = O::lane_byte_signed(V::load(b->scales[j / 4], h), j % 4);
            for (int c = 0; c < C; ++c) {
              isum[c] = V::add(isum[c], V::mullo(s[c], sc));
              V::pin(isum[c]);
            }
          });
      vi pw[8], corr[C];
      for (int g = 0; g < 4; ++g) {
        const vi v = pairs_in_order<V>(V::load(b->scales[g], h));
        pw[2 * g] = O::even_bytes16_signed(v);
        pw[2 * g + 1] = O::odd_bytes16_signed(v);
      }
      bsum_dot<V, C>(corr, pw, x);
      const typename V::vf d = V::load_fp16(b->d, h);
      for (int c = 0; c < C; ++c) acc[h * C + c] = V::scale_add(acc[h * C + c], d, x[c]->d, V::sub(isum[c], V::sll32(corr[c], 5)));
    });
  }
};

// Q3_K: levels 0..7 from 2 bits (bits 2k.. of qs group 8n + jj) and the hmask bit 4n + k of
// hmask group jj; 6-bit scales minus 32 (ggml's mask arithmetic on each lane's 12 bytes); the
// -4 is folded out as 4 * sum_j s_j * bsums_j.
template <class V>
struct q3_k_kernel : k_layout<block_q3_kx16, 4> {
  using vi = typename V::vi;
  using O = ops<V>;

  template <int C>
  static void block(const uint8_t* w, const block_q8_k_act* const* x, typename V::vf* acc) {
    const auto* b = reinterpret_cast<const block_q3_kx16*>(w);
    static_for<0, V::halves>([&]<int h>(ic<h>) {
      const vi u0 = V::load(b->scales[0], h), u1 = V::load(b->scales[1], h), u2 = V::load(b->scales[2], h);
      const vi k1 = V::dwords(0x03030303), k2 = V::dwords(0x0f0f0f0f);
      // Scale j (0..63) is byte j % 4 of aux[j / 4].
      const vi aux[4] = {V::or_(V::and_(u0, k2), V::sll32(V::and_(u2, k1), 4)),
                         V::or_(V::and_(u1, k2), V::sll32(V::and_(V::srl32(u2, 2), k1), 4)),
                         V::or_(V::and_(V::srl32(u0, 4), k2), V::sll32(V::and_(V::srl32(u2, 4), k1), 4)),
                         V::or_(V::and_(V::srl32(u1, 4), k2), V::sll32(V::and_(V::srl32(u2, 6), k1), 4))};
      vi isum[C];
      for (int c = 0; c < C; ++c) isum[c] = V::zero();
      sub16_sums<V, C>(
          x,
          [&](auto n, auto k, auto jj) {
            const vi q = V::load(b->qs[8 * n + jj], h), hm = V::load(b->hmask[jj], h);
            return V::select(V::srl16(q, 2 * k), V::and_(O::bit_to(hm, 4 * n + k, 2), V::bytes(0x04)), V::bytes(0x03));
          },
          [&](const vi* s, auto j) {
            const vi sc = V::sub(O::lane_byte(aux[j / 4], j % 4), V::dwords(32));
            for (int c = 0; c < C; ++c) {
              isum[c] = V::add(isum[c], V::mullo(s[c], sc));
              V::pin(isum[c]);
            }
          });
      vi pw[8], corr[C];
      for (int g = 0; g < 4; ++g) {
        const vi v = pairs_in_order<V>(aux[g]);
        pw[2 * g] = V::sub16(O::even_bytes16(v), V::dwords(0x00200020));
        pw[2 * g + 1] = V::sub16(O::odd_bytes16(v), V::dwords(0x00200020));
      }
      bsum_dot<V, C>(corr, pw, x);
      const typename V::vf d = V::load_fp16(b->d, h);
      for (int c = 0; c < C; ++c) acc[h * C + c] = V::scale_add(acc[h * C + c], d, x[c]->d, V::sub(isum[c], V::sll32(corr[c], 2)));
    });
  }
};

// Q2_K: levels 0..3 (bits 2k.. of qs group 8n + jj); scale in the low, minimum in the high
// nibble of byte j of the row's 16 scale bytes.
template <class V>
struct q2_k_kernel : k_layout<block_q2_kx16, 4> {
  using vi = typename V::vi;
  using O = ops<V>;

  template <int C>
  static void block(const uint8_t* w, const block_q8_k_act* const* x, typename V::vf* acc) {
    const auto* b = reinterpret_cast<const block_q2_kx16*>(w);
    static_for<0, V::halves>([&]<int h>(ic<h>) {
      vi sc[4];
      for (int g = 0; g < 4; ++g) sc[g] = V::load(b->scales[g], h);
      vi isum[C];
      for (int c = 0; c < C; ++c) isum[c] = V::zero();
      sub16_sums<V, C>(
          x,
          [&](auto n, auto k, auto jj) {
            return V::and_(V::srl16(V::load(b->qs[8 * n + jj], h), 2 * k), V::bytes(0x03));
          },
          [&](const vi* s, auto j) {
            const vi scale = V::and_(V::srl32(sc[j / 4], 8 * (j % 4)), V::dwords(0x0f));
            for (int c = 0; c < C; ++c) {
              isum[c] = V::add(isum[c], V::mullo(s[c], scale));
              V::pin(isum[c]);
            }
          });
      vi pw[8], msum[C];
      for (int g = 0; g < 4; ++g) {
        const vi v = pairs_in_order<V>(sc[g]);
        pw[2 * g] = V::and_(V::srl32(v, 4), V::dwords(0x000f000f));
        pw[2 * g + 1] = V::and_(V::srl32(v, 12), V::dwords(0x000f000f));
      }
      bsum_dot<V, C>(msum, pw, x);
      const typename V::vf d = V::load_fp16(b->d, h), dmin = V::load_fp16(b->dmin, h);
      for (int c = 0; c < C; ++c) {
        acc[h * C + c] = V::scale_sub(V::scale_add(acc[h * C + c], d, x[c]->d, isum[c]), dmin, x[c]->d, msum[c]);
      }
    });
  }
};

// IQ4_XS: 8 sub-blocks of 32 (qs groups 4ib..4ib+3, low nibbles elements 32ib + 4jj + i, high
// nibbles 32ib + 16 + 4jj + i), codebook values looked up (+ V::iq4_offset), 6-bit scales
// minus 32; an offset is folded out as offset * sum_ib s_ib * (32-element activation sum).
template <class V>
struct iq4_xs_kernel : k_layout<block_iq4_xsx16, 2> {
  using vi = typename V::vi;
  using O = ops<V>;

  template <int C>
  static void block(const uint8_t* w, const block_q8_k_act* const* x, typename V::vf* acc) {
    const auto* b = reinterpret_cast<const block_iq4_xsx16*>(w);
    const vi table = iq4_table<V>();
    for (int h = 0; h < V::halves; ++h) {
      const vi sl = V::load(b->scales_l, h), sh = V::load_u16(b->scales_h, h);
      vi isum[C], corr[C], prev = V::zero();
      for (int c = 0; c < C; ++c) isum[c] = corr[c] = V::zero();
      for (int ib = 0; ib < 8; ++ib) {
        vi s[C];
        for (auto& v : s) v = V::zero();
        for (int jj = 0; jj < 4; ++jj) {
          const vi raw = V::load(b->qs[4 * ib + jj], h);
          const vi wl = V::lookup(table, O::low_nibbles(raw)), wh = V::lookup(table, O::high_nibbles(raw));
          for (int c = 0; c < C; ++c) {
            s[c] = V::dot_iq4(s[c], wl, V::bcast32(x[c]->qs + 32 * ib + 4 * jj));
            s[c] = V::dot_iq4(s[c], wh, V::bcast32(x[c]->qs + 32 * ib + 16 + 4 * jj));
          }
        }
        const vi ls = V::or_(V::and_(V::srl32(sl, 4 * ib), V::dwords(0x0f)), V::sll32(V::and_(V::srl32(sh, 2 * ib), V::dwords(3)), 4));
        const vi scale = V::sub(ls, V::dwords(32));
        for (int c = 0; c < C; ++c) isum[c] = V::add(isum[c], V::mullo(s[c], scale));
        if constexpr (V::iq4_offset != 0) {
          if (ib % 2 == 1) {
          // Scales ib-1 and ib as an int16 pair against the two 32-element activation sums.
            const vi pr = V::or_(V::and_(prev, V::dwords(0xffff)), V::sll32(scale, 16));
            for (int c = 0; c < C; ++c) {
              const int16_t* bs = x[c]->bsums + 2 * (ib - 1);
              corr[c] = V::dpwssd(corr[c], pr, O::pair(bs[0] + bs[1], bs[2] + bs[3]));
            }
          }
        }
        prev = scale;
      }
      const typename V::vf d = V::load_fp16(b->d, h);
      for (int c = 0; c < C; ++c) {
        const vi total = V::iq4_offset != 0 ? V::sub(isum[c], V::mullo(corr[c], V::dwords(V::iq4_offset))) : isum[c];
        acc[h * C + c] = V::scale_add(acc[h * C + c], d, x[c]->d, total);
      }
    }
  }
};

// Fills k.gemm_packed for the 256-element types with Driver<kernel<V>>::gemm.
template <class V, template <class> class Driver>
void add_k_kernels(kernel_set& k) {
  k.gemm_packed[static_cast<int>(ggml_type::q2_k)] = Driver<q2_k_kernel<V>>::gemm;
  k.gemm_packed[static_cast<int>(ggml_type::q3_k)] = Driver<q3_k_kernel<V>>::gemm;
  k.gemm_packed[static_cast<int>(ggml_type::q4_k)] = Driver<q45_k_kernel<V, false>>::gemm;
  k.gemm_packed[static_cast<int>(ggml_type::q5_k)] = Driver<q45_k_kernel<V, true>>::gemm;
  k.gemm_packed[static_cast<int>(ggml_type::q6_k)] = Driver<q6_k_kernel<V>>::gemm;
  k.gemm_packed[static_cast<int>(ggml_type::iq4_xs)] = Driver<iq4_xs_kernel<V>>::gemm;
}

}  // namespace hearth::kernels::packed

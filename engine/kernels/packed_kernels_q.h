#pragma once
// Block kernels of the 32-element types over their 16-row packed layouts (quant_blocks.h), for
// any vector-operations struct V (see packed_ops.h): recipes Q8S and Q8M of recipes.h. Element
// group jj < 4 of a block is the low nibbles of its bytes 4jj..4jj+3, jj >= 4 the high nibbles
// of bytes 4(jj-4)..; the matching activation bytes are qs[4jj..4jj+3].
#include <cstddef>

#include "kernels/kernels.h"
#include "kernels/packed_ops.h"
#include "kernels/quant_blocks.h"

namespace hearth::kernels::packed {

// isum[c] = -offset * sum(x_c) + sum over the 8 element groups of dot(weights(jj), x_c group jj).
template <class V, int C, class Weights, class Dot>
inline void q8_isums(int offset, const block_q8_act* const* x, typename V::vi* isum, Weights weights, Dot dot) {
  for (int c = 0; c < C; ++c) isum[c] = V::dwords(-offset * x[c]->sum);
  for (int jj = 0; jj < 8; ++jj) {
    const typename V::vi wv = weights(jj);
    for (int c = 0; c < C; ++c) isum[c] = dot(isum[c], wv, V::bcast32(x[c]->qs + 4 * jj));
  }
}

// Nibble group jj of the 16-byte array `qs` (4-byte groups of 16 rows side by side), half h.
template <class V>
inline typename V::vi nibble_group(const uint8_t (*qs)[64], int jj, int h) {
  const typename V::vi raw = V::load(qs[jj & 3], h);
  return jj < 4 ? ops<V>::low_nibbles(raw) : ops<V>::high_nibbles(raw);
}

// The shared part of the kernels: per half, the integer sums of recipe Q8S over weights(jj, h)
// with the type's offset, then acc = fma(d * dx, isum, acc) and, for Q8M types (m != nullptr),
// acc = fma(m * dx, sum(x), acc).
template <class V, int C, class Weights, class Dot>
inline void q8_block(const uint16_t* d, const uint16_t* m, int offset, const block_q8_act* const* x,
                     typename V::vf* acc, Weights weights, Dot dot) {
  for (int h = 0; h < V::halves; ++h) {
    typename V::vi isum[C];
    q8_isums<V, C>(offset, x, isum, [&](int jj) { return weights(jj, h); }, dot);
    const typename V::vf dw = V::load_fp16(d, h);
    for (int c = 0; c < C; ++c) acc[h * C + c] = V::scale_add(acc[h * C + c], dw, x[c]->d, isum[c]);
    if (m) {
      const typename V::vf mw = V::load_fp16(m, h);
      for (int c = 0; c < C; ++c) acc[h * C + c] = V::scale_add(acc[h * C + c], mw, x[c]->d, V::dwords(x[c]->sum));
    }
  }
}

template <class Block>
struct q8_layout {
  using act = block_q8_act;
  static constexpr int elements = 32;
  static constexpr size_t block_bytes = sizeof(Block);
  static constexpr size_t prefetch = 0;
  static constexpr int prefetch_rows = 0;
};

template <class V>
struct dpbusd_op {
  typename V::vi operator()(typename V::vi a, typename V::vi w, typename V::vi x) const { return V::dpbusd(a, w, x); }
};

// Q8_0, stored +128 (V::dot_q8 either folds the offset out or takes the bytes back to signed).
template <class V>
struct q8_0_kernel : q8_layout<block_q8_0x16> {
  template <int C>
  static void block(const uint8_t* w, const block_q8_act* const* x, typename V::vf* acc) {
    const auto* b = reinterpret_cast<const block_q8_0x16*>(w);
    q8_block<V, C>(b->d, nullptr, V::q8_offset, x, acc, [&](int jj, int h) { return V::load(b->qs[jj], h); },
                   [](auto a, auto wv, auto xv) { return V::dot_q8(a, wv, xv); });
  }
};

// Q4_0: unsigned nibbles, offset 8.
template <class V>
struct q4_0_kernel : q8_layout<block_q4_0x16> {
  template <int C>
  static void block(const uint8_t* w, const block_q8_act* const* x, typename V::vf* acc) {
    const auto* b = reinterpret_cast<const block_q4_0x16*>(w);
    q8_block<V, C>(b->d, nullptr, 8, x, acc, [&](int jj, int h) { return nibble_group<V>(b->qs, jj, h); }, dpbusd_op<V>());
  }
};

// Q4_1: unsigned nibbles, recipe Q8M.
template <class V>
struct q4_1_kernel : q8_layout<block_q4_1x16> {
  template <int C>
  static void block(const uint8_t* w, const block_q8_act* const* x, typename V::vf* acc) {
    const auto* b = reinterpret_cast<const block_q4_1x16*>(w);
    q8_block<V, C>(b->d, b->m, 0, x, acc, [&](int jj, int h) { return nibble_group<V>(b->qs, jj, h); }, dpbusd_op<V>());
  }
};

// Q5_0 / Q5_1 levels: the nibble below the fifth bit, which the packed qh holds per row as
// bit 2(jj & 3) + jj / 4 of byte i for element group jj (see q5_0.cpp's pack).
template <class V, class Block>
inline typename V::vi q5_group(const Block* b, int jj, int h) {
  using O = ops<V>;
  const typename V::vi raw = V::load(b->qs[jj & 3], h);
  const typename V::vi high = V::and_(O::bit_to(V::load(b->qh, h), 2 * (jj & 3) + jj / 4, 4), V::bytes(0x10));
  return V::select(jj < 4 ? raw : V::srl16(raw, 4), high, V::bytes(0x0f));
}

template <class V>
struct q5_0_kernel : q8_layout<block_q5_0x16> {
  template <int C>
  static void block(const uint8_t* w, const block_q8_act* const* x, typename V::vf* acc) {
    const auto* b = reinterpret_cast<const block_q5_0x16*>(w);
    q8_block<V, C>(b->d, nullptr, 16, x, acc, [&](int jj, int h) { return q5_group<V>(b, jj, h); }, dpbusd_op<V>());
  }
};

template <class V>
struct q5_1_kernel : q8_layout<block_q5_1x16> {
  template <int C>
  static void block(const uint8_t* w, const block_q8_act* const* x, typename V::vf* acc) {
    const auto* b = reinterpret_cast<const block_q5_1x16*>(w);
    q8_block<V, C>(b->d, b->m, 0, x, acc, [&](int jj, int h) { return q5_group<V>(b, jj, h); }, dpbusd_op<V>());
  }
};

template <class V>
struct iq4_nl_kernel : q8_layout<block_iq4_nlx16> {
  template <int C>
  static void block(const uint8_t* w, const block_q8_act* const* x, typename V::vf* acc) {
    const auto* b = reinterpret_cast<const block_iq4_nlx16*>(w);
    const typename V::vi table = iq4_table<V>();
    q8_block<V, C>(b->d, nullptr, V::iq4_offset, x, acc,
                   [&](int jj, int h) { return V::lookup(table, nibble_group<V>(b->qs, jj, h)); },
                   [](auto a, auto wv, auto xv) { return V::dot_iq4(a, wv, xv); });
  }
};

// Fills k.gemm_packed for the 32-element types with Driver<kernel<V>>::gemm.
template <class V, template <class> class Driver>
void add_q8_kernels(kernel_set& k) {
  k.gemm_packed[static_cast<int>(ggml_type::q8_0)] = Driver<q8_0_kernel<V>>::gemm;
  k.gemm_packed[static_cast<int>(ggml_type::q4_0)] = Driver<q4_0_kernel<V>>::gemm;
  k.gemm_packed[static_cast<int>(ggml_type::q4_1)] = Driver<q4_1_kernel<V>>::gemm;
  k.gemm_packed[static_cast<int>(ggml_type::q5_0)] = Driver<q5_0_kernel<V>>::gemm;
  k.gemm_packed[static_cast<int>(ggml_type::q5_1)] = Driver<q5_1_kernel<V>>::gemm;
  k.gemm_packed[static_cast<int>(ggml_type::iq4_nl)] = Driver<iq4_nl_kernel<V>>::gemm;
}

}  // namespace hearth::kernels::packed

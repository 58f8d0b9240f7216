#pragma once
// Operations the packed-weight block kernels (packed_kernels_q.h, packed_kernels_k.h) build from
// a vector-operations struct V (v512 in packed_avx512.h, v256 in packed_avx2.h), so each type's
// kernel is written once for every instruction set.
//
// A block kernel is a struct with
//   using act = <activation block type>;
//   static constexpr int elements = <elements per block>;
//   static constexpr size_t block_bytes = <bytes of one packed block>;
//   static constexpr size_t prefetch = <bytes ahead to prefetch, or 0>;
//   static constexpr int prefetch_rows = <prefetch in tiles of at most this many activation rows>;
//   template <int C> static void block(const uint8_t* w, const act* const* x, vf* acc);
// which adds one packed block's contribution to the float accumulators acc[h * C + c] (half h
// of the 16 rows, activation row c; x[c] is row c's activation block), following the type's
// scalar recipe (recipes.h) exactly: integer sums are formed exactly, in any order, and the
// float steps are the recipe's.
#include <cstdint>
#include <type_traits>
#include <utility>

#include "kernels/quant_blocks.h"

namespace hearth::kernels::packed {

template <int I>
using ic = std::integral_constant<int, I>;

// f(ic<i>{}) for i = Begin .. End-1: loops the compiler must unroll, so shift counts and group
// indices are constants in the kernels (no counters, no branches, immediate shifts; letting the
// compiler choose left GCC spilling loop state and shift counts in the hot loops).
template <int Begin, int End, class F>
inline void static_for(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) { (f(ic<Begin + I>{}), ...); }(std::make_integer_sequence<int, End - Begin>{});
}

template <class V>
struct ops : V {
  using vi = typename V::vi;
  using vf = typename V::vf;

  static vi low_nibbles(vi v) { return V::and_(v, V::bytes(0x0f)); }
  static vi high_nibbles(vi v) { return V::and_(V::srl16(v, 4), V::bytes(0x0f)); }
  // Bit p of each byte moved to bit `to` (other bits unspecified).
  static vi bit_to(vi v, int p, int to) { return p <= to ? V::sll16(v, to - p) : V::srl16(v, p - to); }
  // Byte i of each 32-bit lane as an int32, zero- or sign-extended (a row's sub-block scale).
  static vi lane_byte(vi v, int i) { return V::and_(V::srl32(v, 8 * i), V::dwords(0xff)); }
  static vi lane_byte_signed(vi v, int i) { return V::sra32(V::sll32(v, 24 - 8 * i), 24); }
  // Bytes 0 and 2 (even) or 1 and 3 (odd) of each 32-bit lane as a pair of int16, zero- or
  // sign-extended: the operand of dpwssd against a pair of activation sums.
  static vi even_bytes16(vi v) { return V::and_(v, V::dwords(0x00ff00ff)); }
  static vi odd_bytes16(vi v) { return V::and_(V::srl32(v, 8), V::dwords(0x00ff00ff)); }
  static vi even_bytes16_signed(vi v) { return V::sra16(V::sll16(v, 8), 8); }
  static vi odd_bytes16_signed(vi v) { return V::sra16(v, 8); }
  // Two int16 values as a pair in every 32-bit lane (lo in the low half).
  static vi pair(int32_t lo, int32_t hi) {
    return V::dwords(static_cast<int32_t>((static_cast<uint32_t>(hi) << 16) | (static_cast<uint32_t>(lo) & 0xffff)));
  }
};

// The IQ4 codebook as V's kernels take it: + V::iq4_offset (unsigned for dpbusd, or signed).
template <class V>
inline typename V::vi iq4_table() {
  uint8_t t[16];
  for (int i = 0; i < 16; ++i) t[i] = static_cast<uint8_t>(kvalues_iq4nl[i] + V::iq4_offset);
  return V::table16(t);
}

}  // namespace hearth::kernels::packed

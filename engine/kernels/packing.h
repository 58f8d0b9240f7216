#pragma once
// Repacking weight matrices into groups of 16 rows for SIMD kernels that put one weight row in
// each 32-bit lane (quant_blocks.h): each type's row in the traits table says whether it is
// packed, the bytes of one packed block, and the function that packs a group. Done once at
// load: the values are unchanged, only their order (and, for some types, an offset).
#include <cstddef>
#include <cstdint>

#include "gguf/ggml_type.h"

namespace hearth::kernels {

bool packable(ggml_type t);
// Bytes of one group of 16 rows of `cols` elements (all its blocks).
size_t packed_group_bytes(ggml_type t, int64_t cols);
// Bytes of a whole packed matrix: rows rounded up to a multiple of 16 (missing rows are zero).
size_t packed_bytes(ggml_type t, int64_t rows, int64_t cols);
// Packs rows [0, rows) of a matrix stored row after row (`row_bytes` apart) into `dst`
// (packed_bytes() long). Groups [group_begin, group_end) only, so large matrices can be packed
// in parallel. Precondition: packable(t).
void pack_weights(ggml_type t, const uint8_t* src, size_t row_bytes, int64_t rows, int64_t cols,
                  uint8_t* dst, int64_t group_begin, int64_t group_end);

// Building blocks of the types' pack functions. A packed block holds block b of 16 rows;
// rows[r] points at row r's block b (rows r >= present are missing and pack as zeros).

// The 4-byte groups of 16 rows side by side: byte offset + 4j + i of row r goes to
// out[64 j + 4 r + i], XORed with `flip`, for j < bytes / 4.
void interleave_dwords(const uint8_t* const* rows, int present, size_t offset, int bytes, uint8_t* out, uint8_t flip = 0);
// The 16 rows' 2-byte fields at `offset` (fp16 scales) side by side.
void gather_u16(const uint8_t* const* rows, int present, size_t offset, uint16_t* out);

// Q5_0 / Q5_1: each row's 4 fifth-bit bytes at `offset`, regrouped (regroup_q5_high_bits) and
// interleaved as one 64-byte vector.
void pack_q5_high_bits(const uint8_t* const* rows, int present, size_t offset, uint8_t* out);

// Calls pack_block(rows, present, out) for each block of a group of 16 rows starting at row0.
template <class F>
void pack_group_blocks(const uint8_t* src, size_t row_bytes, size_t block_bytes, size_t packed_block_bytes, int64_t rows,
                       int64_t row0, int64_t blocks, uint8_t* out, F pack_block) {
  const int present = static_cast<int>(rows - row0 < 16 ? rows - row0 : 16);
  const uint8_t* ptrs[16] = {};
  for (int64_t b = 0; b < blocks; ++b) {
    for (int r = 0; r < present; ++r) ptrs[r] = src + (row0 + r) * row_bytes + b * block_bytes;
    pack_block(ptrs, present, out + b * packed_block_bytes);
  }
}

}  // namespace hearth::kernels

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

// For pack functions: the 4-byte groups of 16 rows side by side. Byte 4j + i of row r goes to
// out[64 j + 4 r + i], XORed with `flip`, for j < bytes / 4; rows r >= present are zero.
void interleave_dwords(const uint8_t* const* rows, int present, int bytes, uint8_t* out, uint8_t flip = 0);

}  // namespace hearth::kernels

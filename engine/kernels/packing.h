#pragma once
// Repacking Q8_0 / Q4_0 weight matrices into the 16-row groups of block_q8_0x16 /
// block_q4_0x16 (quant_blocks.h), which SIMD kernels read one vector per element group.
// Done once at load: the values are unchanged, only their order (and, for Q8_0, +128).
#include <cstddef>
#include <cstdint>

#include "gguf/ggml_type.h"

namespace hearth::kernels {

bool packable(ggml_type t);  // Q8_0, Q4_0
// Bytes of one group of 16 rows of `cols` elements (all its blocks).
size_t packed_group_bytes(ggml_type t, int64_t cols);
// Bytes of a whole packed matrix: rows rounded up to a multiple of 16 (missing rows are zero).
size_t packed_bytes(ggml_type t, int64_t rows, int64_t cols);
// Packs rows [0, rows) of a matrix stored row after row (`row_bytes` apart) into `dst`
// (packed_bytes() long). Groups [group_begin, group_end) only, so large matrices can be packed
// in parallel.
void pack_weights(ggml_type t, const uint8_t* src, size_t row_bytes, int64_t rows, int64_t cols,
                  uint8_t* dst, int64_t group_begin, int64_t group_end);

}  // namespace hearth::kernels

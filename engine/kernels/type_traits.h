#pragma once
// What the engine knows about each tensor type it computes with, as one table with one row per
// GGUF type (as ggml's type_traits): block layout, scalar dequantize and quantize, the
// activation format it multiplies with, its scalar reference matmul, and its packed layout.
// The SIMD kernels live in per-set arrays indexed by type (kernels.h). Adding a type is one file
// (kernels/types/<type>.cpp defining its row) plus one line in type_traits.cpp's table.
//
// Everything here is immutable, constant-initialized data: safe from any thread, at any time.
#include <cstddef>
#include <cstdint>
#include <span>

#include "gguf/ggml_type.h"

namespace hearth::kernels {

// Activation formats: what a row of floats is converted to before it meets a weight row.
// q8: 32-element blocks of block_q8_act (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL weights).
// q8_k: 256-element blocks of block_q8_k_act (K-quants, IQ4_XS).
enum class act_format : uint8_t { f32, f16, bf16, q8, q8_k };
constexpr int act_format_count = 5;

struct act_format_traits {
  act_format format;
  const char* name;
  int64_t block;       // elements per block (1 for float formats)
  size_t block_bytes;  // bytes per block
};
const act_format_traits& act_format_info(act_format f);
// Bytes of one converted row of k elements (k a multiple of the format's block).
size_t act_row_bytes(act_format f, int64_t k);

// y[i*ldy + j] = dot(x_i, w_j) for i < m activation rows and j < n weight rows of k elements;
// x rows are x_stride bytes apart, w rows w_stride bytes apart (for a packed layout: `w` is the
// first 16-row group, `w_stride` the bytes of one group, and the last group may be partial).
using gemm_fn = void (*)(int64_t k, const void* w, size_t w_stride, int64_t n, const void* x,
                         size_t x_stride, int64_t m, float* y, size_t ldy);
// Converts one row of k floats into an activation format.
using convert_fn = void (*)(const float* x, void* y, int64_t k);
// Dequantizes one stored row of k elements to floats.
using dequant_fn = void (*)(const void* w, float* y, int64_t k);
// Quantizes one row of k floats into the stored layout (llama.cpp's reference rules, so files
// written here match what llama-quantize writes without an importance matrix).
using quantize_fn = void (*)(const float* x, void* y, int64_t k);
// Quantizes one whole row of k floats with an importance matrix, as llama-quantize --imatrix
// does (ggml's quantize_row_*_impl with quant_weights): importance[j] (> 0; the mean square of
// input column j's activations) weighs element j's error in the type's scale search. One row per
// call: the legacy types' weights depend on the whole row's mean square.
using quantize_weighted_fn = void (*)(const float* x, void* y, int64_t k, const float* importance);
// Packs block column b..b+blocks of rows [row0, row0 + 16) of a matrix (rows beyond `rows` are
// zero) into `blocks` packed blocks at `out` (see packing.h).
using pack_fn = void (*)(const uint8_t* src, size_t row_bytes, int64_t rows, int64_t row0, int64_t blocks,
                         uint8_t* out);

struct type_traits {
  ggml_type type;
  int64_t block;                // elements per block (ggml's blck_size)
  size_t block_bytes;           // bytes per block (ggml's type_size)
  act_format act;               // the activation format it multiplies with
  dequant_fn dequantize;        // scalar, exact
  quantize_fn quantize;         // nullptr when this build cannot write the type
  // nullptr when the type ignores an importance matrix (as ggml: the float types and Q8_0).
  quantize_weighted_fn quantize_weighted;
  gemm_fn gemm;                 // the scalar reference matmul over the stored layout
  size_t packed_block_bytes;    // bytes of one block of 16 packed rows; 0: never packed
  pack_fn pack;                 // nullptr when never packed
};

// The row of a type, or nullptr when the engine cannot compute with it.
const type_traits* type_traits_of(ggml_type t);
// Every row, in the table's order.
std::span<const type_traits* const> all_type_traits();
// "F32, F16, ..." for error messages.
const char* supported_type_names();

}  // namespace hearth::kernels

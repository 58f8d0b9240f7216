#pragma once
// The compute kernels behind every matmul and attention step, as one table of function pointers
// per instruction set. The scalar table is the reference: every SIMD table is tested against it.
// kernels::active() is chosen once, at first use, from CPUID and the register state the OS
// enabled (cpu_features.h, dispatch.cpp); HEARTH_KERNELS=scalar (or avx2) forces a lesser set
// for comparison.
//
// Matmul convention: y[i][j] = dot(x row i, w row j) for i < m activation rows, j < n weight rows,
// each row k elements long. Weights stay in their stored type; activations are first converted to
// that type's activation format (type_traits.h). Each output element is computed by the same
// sequence of operations whatever m, n and the tiling are: a row's result never depends on which
// other rows share the batch.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gguf/ggml_type.h"
#include "kernels/type_traits.h"

namespace hearth::kernels {

struct kernel_set {
  const char* name;
  // Activation conversions, indexed by act_format ([f32] is nullptr: floats are used as they are).
  convert_fn convert[act_format_count];
  // Matmuls over the stored layout, indexed by type id; nullptr when the type has no kernel.
  // Float types in SIMD sets: k % 16 == 0 (gemm_for() routes other k to the scalar set).
  gemm_fn gemm[ggml_type_slots];
  // Matmuls over weights repacked in groups of 16 rows (packing.h), indexed by type id, or
  // nullptr when this set works on the stored layout of that type.
  gemm_fn gemm_packed[ggml_type_slots];
  // Attention (online softmax over an F16 cache, as ggml's CPU flash attention computes it):
  // q·k of F16 rows; y = f16(fma(v, a, y)) and y = f16(y * a) on an F16 accumulator row.
  float (*dot_f16)(const uint16_t* q, const uint16_t* k, int64_t n);
  void (*mad_f16)(uint16_t* y, const uint16_t* v, float a, int64_t n);
  void (*scale_f16)(uint16_t* y, float a, int64_t n);
  // One head's online-softmax steps over `count` (1..softmax_rows_max) consecutive positions of
  // attention over a quantized cache (attention_quant.h), whose values are dequantized to floats
  // and summed in float rows as ggml's CPU flash attention does for a non-F16 cache. In position
  // order: s[t] the position's score (scaled, capped); *m and *sum the head's running maximum and
  // sum of weights; acc its hd float accumulators; v the positions' dequantized value rows, hd
  // floats each, one after another. A score above the maximum rescales acc by exp(old - new)
  // (y = y * a) and adds its row with weight 1, any other adds it with weight exp(s - max)
  // (y = fma(v, a, y)); then sum = sum * rescale + weight. One rounding per element and
  // operation, and exp is exp_steps::exp, so every set gives the same bits. hd % 16 == 0.
  void (*softmax_rows_f32)(const float* s, int count, float* m, float* sum, float* acc, const float* v, int64_t hd);
  static constexpr int softmax_rows_max = 16;
  // All query heads that share one KV head, over positions [first, n) stored in blocks of
  // `block_size` (keys[b], values[b]: block b's [block_size][hd] rows; first > 0 for a sliding
  // window, whose earlier positions llama.cpp's mask of -inf makes its flash attention skip), each
  // score soft-capped when cap > 0 (Gemma 2). q: heads x hd, already F16; out: heads x hd. Each
  // head computes exactly attend_heads_ref's sequence (the three primitives above); SIMD sets
  // share the key and value conversions between heads.
  void (*attend)(const kernel_set& ks, const uint16_t* q, int64_t heads, int64_t hd, const uint16_t* const* keys,
                 const uint16_t* const* values, int32_t block_size, int64_t first, int64_t n, float scale, float cap,
                 float* out);

  // gate[i] = silu(gate[i]) * up[i] = gate[i] / (1 + e) * up[i], e = exp_steps::exp(-gate[i])
  // (exp_steps.h): the same operations in every set, so every set gives the same bits.
  void (*silu_mul)(float* gate, const float* up, int64_t n);

  // Rows of floats to F16 (the KV cache and attention queries).
  void to_f16(const float* x, void* y, int64_t k) const { convert[static_cast<int>(act_format::f16)](x, y, k); }
};

// The reference attention (see kernel_set::attend), built from a set's dot_f16, mad_f16 and
// scale_f16, head by head: for each position from `first`, s = dot * scale, and with cap > 0
// s = cap * tanh(s) where scale was first divided by cap (ggml's order); on a new maximum the F16
// accumulator is rescaled by exp(old - new) and the value added with weight 1, else added with
// exp(s - max) (exp is exp_steps::exp: every set the same bits); the row ends divided by the sum
// of weights (multiplied by its float reciprocal).
void attend_heads_ref(const kernel_set& ks, const uint16_t* q, int64_t heads, int64_t hd, const uint16_t* const* keys,
                      const uint16_t* const* values, int32_t block_size, int64_t first, int64_t n, float scale,
                      float cap, float* out);

const kernel_set& scalar();
const kernel_set* avx2();    // nullptr when not compiled in
const kernel_set* avx512();  // nullptr when not compiled in
// Every SIMD set this CPU and OS can run, worst to best (for tests comparing them with the
// reference).
std::vector<const kernel_set*> supported_simd_sets();
// The best set this CPU supports (or the one HEARTH_KERNELS names). Chosen once.
const kernel_set& active();

// The matmul of a stored weight type for rows of k elements. Float rows whose length is not a
// multiple of 16 follow the reference's other recipe, which only the scalar set implements.
gemm_fn gemm_for(const kernel_set& ks, ggml_type t, int64_t k);
// The packed matmul of a type, or nullptr when this set has none.
gemm_fn gemm_packed_for(const kernel_set& ks, ggml_type t);
convert_fn convert_for(const kernel_set& ks, act_format f);  // nullptr for f32
// The activation format of a computable type (precondition: type_traits_of(t) != nullptr).
act_format act_format_of(ggml_type t);
bool is_matmul_type(ggml_type t);
dequant_fn dequant_for(ggml_type t);  // scalar; nullptr if unsupported

// Row-quantization of activations, reference versions: to block_q8_act (32-blocks) and to
// block_q8_k_act (256-blocks).
void quantize_row_q8_ref(const float* x, void* y, int64_t k);
void quantize_row_q8_k_ref(const float* x, void* y, int64_t k);

}  // namespace hearth::kernels

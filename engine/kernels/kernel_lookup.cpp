// Which kernel of a set computes a type: lookups in the per-set arrays and the traits table.
#include "kernels/kernels.h"

namespace hearth::kernels {

namespace {

bool is_float_format(act_format f) { return f == act_format::f32 || f == act_format::f16 || f == act_format::bf16; }

}  // namespace

gemm_fn gemm_for(const kernel_set& ks, ggml_type t, int64_t k) {
  const type_traits* tt = type_traits_of(t);
  if (!tt) return nullptr;
  if (is_float_format(tt->act) && k % 16 != 0 && &ks != &scalar()) return gemm_for(scalar(), t, k);
  return ks.gemm[static_cast<uint32_t>(t)];
}

gemm_fn gemm_packed_for(const kernel_set& ks, ggml_type t) {
  const auto id = static_cast<uint32_t>(t);
  return id < ggml_type_slots ? ks.gemm_packed[id] : nullptr;
}

convert_fn convert_for(const kernel_set& ks, act_format f) { return ks.convert[static_cast<int>(f)]; }

act_format act_format_of(ggml_type t) { return type_traits_of(t)->act; }

bool is_matmul_type(ggml_type t) { return type_traits_of(t) != nullptr; }

dequant_fn dequant_for(ggml_type t) {
  const type_traits* tt = type_traits_of(t);
  return tt ? tt->dequantize : nullptr;
}

}  // namespace hearth::kernels

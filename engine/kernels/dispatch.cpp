// Chooses the kernel set once, by CPUID. HEARTH_KERNELS=scalar|avx2|avx512 overrides (never
// upward past what the CPU supports).
#include <cpuid.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "kernels/kernels.h"
#include "kernels/quant_blocks.h"

namespace hearth::kernels {

namespace {

// F16C straight from CPUID leaf 1: clang's __builtin_cpu_supports has no "f16c" (GCC's does).
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
}

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

const kernel_set& choose() {
  const char* env = std::getenv("HEARTH_KERNELS");
  std::string_view want = env ? env : "";
  if (want == "scalar") return scalar();
  if (want != "avx2" && avx512() && cpu_has_avx512()) return *avx512();
  if (avx2() && cpu_has_avx2()) return *avx2();
  return scalar();
}

}  // namespace

std::vector<const kernel_set*> supported_simd_sets() {
  std::vector<const kernel_set*> out;
  if (avx2() && cpu_has_avx2()) out.push_back(avx2());
  if (avx512() && cpu_has_avx512()) out.push_back(avx512());
  return out;
}

const kernel_set& active() {
  static const kernel_set& ks = choose();
  return ks;
}

bool is_matmul_type(ggml_type t) {
  switch (t) {
    case ggml_type::f32: case ggml_type::f16: case ggml_type::bf16:
    case ggml_type::q8_0: case ggml_type::q4_0: return true;
    default: return false;
  }
}

act_format act_format_of(ggml_type t) {
  switch (t) {
    case ggml_type::f16: return act_format::f16;
    case ggml_type::bf16: return act_format::bf16;
    case ggml_type::q8_0: case ggml_type::q4_0: return act_format::q8;
    default: return act_format::f32;
  }
}

size_t act_row_bytes(act_format f, int64_t k) {
  switch (f) {
    case act_format::f32: return k * 4;
    case act_format::f16: case act_format::bf16: return k * 2;
    case act_format::q8: return (k / 32) * sizeof(block_q8_act);
  }
  return 0;
}

gemm_fn gemm_for(const kernel_set& ks, ggml_type t, int64_t k) {
  const bool float_type = t == ggml_type::f32 || t == ggml_type::f16 || t == ggml_type::bf16;
  if (float_type && k % 16 != 0 && &ks != &scalar()) return gemm_for(scalar(), t, k);
  switch (t) {
    case ggml_type::f32: return ks.gemm_f32;
    case ggml_type::f16: return ks.gemm_f16;
    case ggml_type::bf16: return ks.gemm_bf16;
    case ggml_type::q8_0: return ks.gemm_q8_0;
    case ggml_type::q4_0: return ks.gemm_q4_0;
    default: return nullptr;
  }
}

convert_fn convert_for(const kernel_set& ks, act_format f) {
  switch (f) {
    case act_format::f16: return ks.to_f16;
    case act_format::bf16: return ks.to_bf16;
    case act_format::q8: return ks.to_q8;
    case act_format::f32: return nullptr;
  }
  return nullptr;
}


}  // namespace hearth::kernels

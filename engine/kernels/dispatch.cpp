// Chooses the kernel set once, by CPUID. HEARTH_KERNELS=scalar|avx2|avx512 overrides (never
// upward past what the CPU supports).
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "kernels/kernels.h"

namespace hearth::kernels {

namespace {

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
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

}  // namespace hearth::kernels

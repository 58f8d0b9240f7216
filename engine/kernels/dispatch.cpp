// Chooses the kernel set once, from what the CPU implements and the OS has enabled
// (cpu_features.h). HEARTH_KERNELS=scalar|avx2|avx512 overrides (never upward past what the
// CPU and OS support).
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "kernels/cpu_features.h"
#include "kernels/kernels.h"

namespace hearth::kernels {

namespace {

const simd_support& cpu_support() {
  static const simd_support s = simd_support_of(read_cpu_id());
  return s;
}

bool cpu_has_avx2() { return cpu_support().avx2; }
bool cpu_has_avx512() { return cpu_support().avx512; }

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

#include "kernels/cpu_features.h"

#include <cpuid.h>

namespace hearth::kernels {

namespace {

// Intel SDM vol. 2A, CPUID; vol. 1, 13.3 (XCR0).
constexpr uint32_t leaf1_fma = 1u << 12, leaf1_osxsave = 1u << 27, leaf1_avx = 1u << 28,
                   leaf1_f16c = 1u << 29;
constexpr uint32_t leaf7_avx2 = 1u << 5, leaf7_avx512f = 1u << 16, leaf7_avx512dq = 1u << 17,
                   leaf7_avx512bw = 1u << 30, leaf7_avx512vl = 1u << 31;
constexpr uint32_t leaf7c_avx512vnni = 1u << 11;
constexpr uint64_t xcr0_sse = 1u << 1, xcr0_avx = 1u << 2, xcr0_opmask = 1u << 5,
                   xcr0_zmm_hi256 = 1u << 6, xcr0_hi16_zmm = 1u << 7;

constexpr bool all(uint64_t have, uint64_t want) { return (have & want) == want; }

}  // namespace

simd_support simd_support_of(const cpu_id& id) {
  simd_support s;
  if (!all(id.leaf1_ecx, leaf1_osxsave)) return s;  // XCR0 unreadable: no AVX state enabled
  s.avx2 = all(id.leaf1_ecx, leaf1_avx | leaf1_fma | leaf1_f16c) && all(id.leaf7_ebx, leaf7_avx2) &&
           all(id.xcr0, xcr0_sse | xcr0_avx);
  s.avx512 = s.avx2 &&
             all(id.leaf7_ebx, leaf7_avx512f | leaf7_avx512dq | leaf7_avx512bw | leaf7_avx512vl) &&
             all(id.leaf7_ecx, leaf7c_avx512vnni) &&
             all(id.xcr0, xcr0_opmask | xcr0_zmm_hi256 | xcr0_hi16_zmm);
  return s;
}

cpu_id read_cpu_id() {
  cpu_id id;
  unsigned a = 0, b = 0, c = 0, d = 0;
  const unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf >= 1 && __get_cpuid(1, &a, &b, &c, &d)) id.leaf1_ecx = c;
  if (max_leaf >= 7 && __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    id.leaf7_ebx = b;
    id.leaf7_ecx = c;
  }
  if (id.leaf1_ecx & leaf1_osxsave) {
    // XGETBV faults (#UD) unless the OS set CR4.OSXSAVE, which is what the CPUID bit reports.
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    id.xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
  }
  return id;
}

}  // namespace hearth::kernels

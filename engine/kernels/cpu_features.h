#pragma once
// Which SIMD kernel sets this CPU, under this OS, can run.
//
// A set is usable only when the CPU implements its instructions (CPUID) AND the OS saves and
// restores the registers they use (XCR0, read with XGETBV, which is only legal once CPUID
// reports OSXSAVE). CPUID alone never suffices: where the OS or hypervisor has not enabled a
// register state, CPUID still lists the instructions and they fault.
//   avx2 set:   AVX, AVX2, FMA, F16C and OSXSAVE; XCR0 holds SSE (bit 1) and AVX (bit 2) state.
//   avx512 set: everything the avx2 set needs, plus AVX512F, DQ, BW, VL and VNNI (what
//               kernels_avx512.cpp is compiled for); XCR0 also holds opmask (bit 5),
//               ZMM_Hi256 (bit 6) and Hi16_ZMM (bit 7) state.
//
// AMX (no AMX path exists; this is the contract for one): CPUID's AMX bits and XCR0's tile
// bits (17 XTILECFG, 18 XTILEDATA) are not enough. Linux grants tile data per process, lazily:
// until arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) has succeeded, the first AMX
// instruction faults (machines of the class this runs on advertise AMX and fault). An AMX set
// must make that request when the set is chosen, check its result and fall back when refused,
// and take its inputs through simd_support_of() like the others so the rule stays testable.
//
// Pure functions and plain data; safe from any thread.
#include <cstdint>

namespace hearth::kernels {

// The raw registers the decision is made from.
struct cpu_id {
  uint32_t leaf1_ecx = 0;  // CPUID.(EAX=1):ECX
  uint32_t leaf7_ebx = 0;  // CPUID.(EAX=7,ECX=0):EBX; 0 when leaf 7 does not exist
  uint32_t leaf7_ecx = 0;  // CPUID.(EAX=7,ECX=0):ECX; 0 when leaf 7 does not exist
  uint64_t xcr0 = 0;       // XGETBV(ECX=0); meaningful only when leaf1_ecx has OSXSAVE
};

struct simd_support {
  bool avx2 = false;
  bool avx512 = false;
  bool operator==(const simd_support&) const = default;
};

// The decision itself (see the top of this file). Ignores xcr0 unless OSXSAVE is set.
simd_support simd_support_of(const cpu_id& id);

// Executes CPUID, and XGETBV only when OSXSAVE says it is allowed.
cpu_id read_cpu_id();

}  // namespace hearth::kernels

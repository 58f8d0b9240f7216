// Kernel-set dispatch: the sets offered and chosen are the ones the OS reports for this CPU
// (/proc/cpuinfo, not the engine's CPUID code), and the decision rule needs CPUID bits and
// OS-enabled register state (XCR0) both, checked on made-up inputs.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "cpu_flags.h"
#include "kernels/cpu_features.h"
#include "kernels/kernels.h"

using namespace hearth;
using namespace hearth::kernels;

namespace {

std::vector<std::string> names_of(const std::vector<const kernel_set*>& sets) {
  std::vector<std::string> out;
  for (const kernel_set* ks : sets) out.push_back(ks->name);
  return out;
}

// The sets this build compiled in, among `names`.
std::vector<std::string> compiled(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const std::string& n : names) {
    if ((n == "avx2" && avx2()) || (n == "avx512-vnni" && avx512())) out.push_back(n);
  }
  return out;
}

}  // namespace

TEST_CASE("kernels: the SIMD sets offered are those /proc/cpuinfo lists", "[kernels][dispatch]") {
  const auto flags = test::cpuinfo_flags();
  const std::vector<std::string> expected = compiled(test::expected_simd_sets(flags));
  INFO("expected from /proc/cpuinfo: " << expected.size() << " sets");
  CHECK(names_of(supported_simd_sets()) == expected);
  // An x86-64 CPU with AVX2 must get SIMD kernels: an empty list means production silently runs
  // the scalar reference and the SIMD kernels go untested.
  if (flags.count("avx2") && avx2()) CHECK_FALSE(supported_simd_sets().empty());
}

TEST_CASE("kernels: active() is the best set the CPU offers (or the one HEARTH_KERNELS names)",
          "[kernels][dispatch]") {
  const std::vector<std::string> offered = compiled(test::expected_simd_sets(test::cpuinfo_flags()));
  const char* env = std::getenv("HEARTH_KERNELS");
  const std::string want = env ? env : "";
  std::string expected = offered.empty() ? "scalar" : offered.back();
  if (want == "scalar") expected = "scalar";
  if (want == "avx2") expected = offered.empty() ? "scalar" : offered.front();
  INFO("HEARTH_KERNELS=" << want);
  CHECK(std::string(active().name) == expected);
}

TEST_CASE("kernels: a SIMD set needs its CPUID bits and OS-enabled register state", "[kernels][dispatch]") {
  // Bit positions from the Intel SDM, written out here rather than taken from the engine.
  constexpr uint32_t fma = 1u << 12, osxsave = 1u << 27, avx = 1u << 28, f16c = 1u << 29;
  constexpr uint32_t avx2 = 1u << 5, avx512f = 1u << 16, avx512dq = 1u << 17, avx512bw = 1u << 30,
                     avx512vl = 1u << 31;
  constexpr uint32_t vnni = 1u << 11;
  constexpr uint64_t x87 = 1, sse = 2, ymm = 4, opmask = 32, zmm_hi256 = 64, hi16_zmm = 128;
  constexpr uint64_t amx_tiles = (1u << 17) | (1u << 18);
  constexpr uint64_t os_avx = x87 | sse | ymm, os_avx512 = os_avx | opmask | zmm_hi256 | hi16_zmm;
  const cpu_id full{.leaf1_ecx = fma | osxsave | avx | f16c,
                    .leaf7_ebx = avx2 | avx512f | avx512dq | avx512bw | avx512vl,
                    .leaf7_ecx = vnni,
                    .xcr0 = os_avx512};
  struct row {
    const char* what;
    cpu_id id;
    simd_support expect;
  };
  const auto with = [&](auto change) {
    cpu_id c = full;
    change(c);
    return c;
  };
  const simd_support none{}, only_avx2{.avx2 = true}, both{.avx2 = true, .avx512 = true};
  const std::vector<row> rows = {
      {"everything", full, both},
      {"and AMX tile state (no AMX set exists)", with([&](cpu_id& c) { c.xcr0 |= amx_tiles; }), both},
      {"no CPUID bits, no state", cpu_id{}, none},
      {"OS enabled no AVX-512 state", with([&](cpu_id& c) { c.xcr0 = os_avx; }), only_avx2},
      {"OS enabled SSE only", with([&](cpu_id& c) { c.xcr0 = x87 | sse; }), none},
      {"AVX-512 state without AVX state", with([&](cpu_id& c) { c.xcr0 = os_avx512 & ~ymm; }), none},
      {"no opmask state", with([&](cpu_id& c) { c.xcr0 &= ~opmask; }), only_avx2},
      {"no ZMM_Hi256 state", with([&](cpu_id& c) { c.xcr0 &= ~zmm_hi256; }), only_avx2},
      {"no Hi16_ZMM state", with([&](cpu_id& c) { c.xcr0 &= ~hi16_zmm; }), only_avx2},
      {"OSXSAVE clear: XCR0 is not to be trusted", with([&](cpu_id& c) { c.leaf1_ecx &= ~osxsave; }), none},
      {"no AVX", with([&](cpu_id& c) { c.leaf1_ecx &= ~avx; }), none},
      {"no FMA", with([&](cpu_id& c) { c.leaf1_ecx &= ~fma; }), none},
      {"no F16C", with([&](cpu_id& c) { c.leaf1_ecx &= ~f16c; }), none},
      {"no AVX2", with([&](cpu_id& c) { c.leaf7_ebx &= ~avx2; }), none},
      {"no AVX512F", with([&](cpu_id& c) { c.leaf7_ebx &= ~avx512f; }), only_avx2},
      {"no AVX512DQ", with([&](cpu_id& c) { c.leaf7_ebx &= ~avx512dq; }), only_avx2},
      {"no AVX512BW", with([&](cpu_id& c) { c.leaf7_ebx &= ~avx512bw; }), only_avx2},
      {"no AVX512VL", with([&](cpu_id& c) { c.leaf7_ebx &= ~avx512vl; }), only_avx2},
      {"no AVX512_VNNI", with([&](cpu_id& c) { c.leaf7_ecx &= ~vnni; }), only_avx2},
      {"AVX2 CPU, AVX-512 state enabled", with([&](cpu_id& c) {
         c.leaf7_ebx = avx2;
         c.leaf7_ecx = 0;
       }),
       only_avx2},
  };
  for (const row& r : rows) {
    INFO(r.what);
    const simd_support got = simd_support_of(r.id);
    CHECK(got.avx2 == r.expect.avx2);
    CHECK(got.avx512 == r.expect.avx512);
  }
}

TEST_CASE("kernels: this machine's CPUID and XCR0 give the sets /proc/cpuinfo lists", "[kernels][dispatch]") {
  const std::vector<std::string> expected = test::expected_simd_sets(test::cpuinfo_flags());
  const simd_support s = simd_support_of(read_cpu_id());
  CHECK(s.avx2 == (expected.size() >= 1));
  CHECK(s.avx512 == (expected.size() >= 2));
}

#pragma once
// What the OS says this CPU can do, read from /proc/cpuinfo: an account of the SIMD sets that
// does not go through the engine's own CPUID code (engine/kernels/cpu_features.cpp), so tests
// can check that code against it. Linux lists a feature only if it also enabled the feature's
// register state.
#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace hearth::test {

// The words of the first "flags" line of /proc/cpuinfo. Fails the test if there is none.
inline std::set<std::string> cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  REQUIRE(in);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("flags")) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> out;
    for (std::string w; words >> w;) out.insert(w);
    return out;
  }
  FAIL("/proc/cpuinfo has no flags line");
  return {};
}

// The kernel sets (by kernel_set::name, worst to best) the flags call for.
inline std::vector<std::string> expected_simd_sets(const std::set<std::string>& flags) {
  const auto has = [&](std::initializer_list<const char*> names) {
    for (const char* n : names) {
      if (!flags.count(n)) return false;
    }
    return true;
  };
  std::vector<std::string> out;
  if (!has({"avx", "avx2", "fma", "f16c"})) return out;
  out.push_back("avx2");
  if (has({"avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni"})) out.push_back("avx512-vnni");
  return out;
}

}  // namespace hearth::test

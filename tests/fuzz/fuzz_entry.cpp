// libFuzzer's entry points for one target, chosen at build time (HEARTH_FUZZ_TARGET, see
// tests/fuzz/CMakeLists.txt). An exception escaping a target aborts: libFuzzer records the input.
#include <cstddef>
#include <cstdint>

#include "fuzz_target.h"

namespace {
const hearth::fuzz::fuzz_target& target = hearth::fuzz::find_fuzz_target(HEARTH_FUZZ_TARGET);
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  target.init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  target.run({data, size});
  return 0;
}

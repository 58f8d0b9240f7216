// Issue 7, hole 7: metadata that takes far more memory parsed than on disk (8M empty nested
// arrays, 96 MB, reached 1.35 GB before the file was rejected). Parsing is bounded relative to
// the file: at most twice its bytes plus 16 MiB, 2^20 nested arrays and 2^24 array strings.
#include <catch2/catch.hpp>

#include "crafted_models.h"
#include "engine/gguf_test_util.h"
#include "reference.h"

using namespace hearth;
using namespace hearth::test;
namespace fs = std::filesystem;

TEST_CASE("gguf metadata: more nested arrays than the cap are refused before parsing them", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.file("nested.gguf");
  write_nested_arrays(p, "hostile.nested", (uint64_t{1} << 20) + 1);
  check_message(open_error(p), p, {"metadata 'hostile.nested'", "more than 1048576 nested arrays"});
}

TEST_CASE("gguf metadata: nested arrays that would take more than the memory budget are refused", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.file("nested.gguf");
  // 500,000 empty arrays: 6 MB on disk, well over 50 MB parsed; the budget is 2 × 6 MB + 16 MiB.
  write_nested_arrays(p, "hostile.nested", 500'000);
  const std::string msg = open_error(p);
  check_message(msg, p, {"metadata 'hostile.nested'[", "the parsed metadata would take more than 27.4 MiB",
                         "the limit for a file of 5.7 MiB: twice its size plus 16.0 MiB"});
}

TEST_CASE("gguf metadata: real files parse well within the budget", "[gguf]") {
  size_t files = 0;
  for (const char* dir : {"vocab", "models", "models/arch"}) {
    for (const auto& e : fs::directory_iterator(shared_path(dir))) {
      if (e.path().extension() != ".gguf") continue;
      INFO(e.path());
      const gguf_file f = gguf_file::open(e.path());
      CHECK(f.parsed_bytes() > 0);
      CHECK(f.parsed_bytes() <= 2 * f.file_size() + (size_t{16} << 20));
      ++files;
    }
  }
  CHECK(files >= 20);  // every vocabulary (the largest: qwen2's 151,669 tokens and merges) and model
}

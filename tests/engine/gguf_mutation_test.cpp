// Random corruption of a header: gguf_file::open must either succeed with every view inside
// the mapping (checked by reading every tensor and metadata byte, which ASan watches) or throw
// load_error. Never another exception, never a crash. Seeded, so a failure reproduces.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <typeinfo>

#include "engine/gguf_test_util.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

using namespace hearth;
using namespace hearth::test;
namespace fs = std::filesystem;
using mv = gguf_meta_value;

namespace {

struct outcome {
  int opened = 0;
  int rejected = 0;
};

// Values that sit on the reader's bounds when written at `at` over a count, length, dim or
// offset, including string lengths that end exactly at, or one byte past, the end of the file.
uint64_t interesting_u64(std::mt19937_64& rng, uint64_t file_size, uint64_t at) {
  const uint64_t left = file_size - std::min(file_size, at + 8);
  // clang-format off
  const uint64_t picks[] = {0, 1, 2, 3, 4, 5, 31, 32, 33, 255, 256, 1ULL << 31, 1ULL << 32,
                            file_size, file_size + 1, left - 1, left, left + 1, left / 4 + 1,
                            (1ULL << 62) + 1, 1ULL << 63, ~0ULL, ~0ULL - 1};
  // clang-format on
  return rng() % 3 == 0 ? rng() : picks[rng() % std::size(picks)];
}

// Overwrites `edits` in the file at fd, opens `p`, then restores the original bytes.
void try_mutation(int fd, const fs::path& p,
                  const std::vector<std::pair<size_t, std::vector<uint8_t>>>& edits,
                  const std::vector<uint8_t>& original, outcome& out, uint64_t iteration) {
  std::vector<uint8_t> mutated = original;
  for (const auto& [at, bytes] : edits) {
    REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), at) == ssize_t(bytes.size()));
    std::memcpy(mutated.data() + at, bytes.data(), bytes.size());
  }
  try {
    gguf_file f = gguf_file::open(p);
    (void)touch_everything(f);
    const std::string why = check_views(f, mutated);
    if (!why.empty()) FAIL("iteration " << iteration << ": opened, but " << why);
    ++out.opened;
  } catch (const load_error&) {
    ++out.rejected;
  } catch (const std::exception& e) {
    FAIL("iteration " << iteration << ": " << typeid(e).name()
                      << " instead of load_error: " << e.what());
  }
  for (const auto& [at, bytes] : edits) {
    REQUIRE(::pwrite(fd, original.data() + at, bytes.size(), at) == ssize_t(bytes.size()));
  }
}

// Runs `iterations` random mutations of the first `region` bytes of the file at `p` (whose
// bytes are `original`): bit flips, random bytes, and boundary u64/u32 values.
outcome mutate(const fs::path& p, const std::vector<uint8_t>& original, size_t region,
               int iterations, uint64_t seed) {
  std::mt19937_64 rng(seed);
  outcome out;
  struct fd_guard {
    int fd;
    ~fd_guard() {
      if (fd >= 0) ::close(fd);
    }
  } guard{::open(p.c_str(), O_RDWR | O_CLOEXEC)};
  const int fd = guard.fd;
  REQUIRE(fd >= 0);
  for (int it = 0; it < iterations; ++it) {
    std::vector<std::pair<size_t, std::vector<uint8_t>>> edits;
    const int n_edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < n_edits; ++e) {
      size_t at = rng() % region;
      std::vector<uint8_t> bytes;
      switch (rng() % 4) {
        case 0: bytes = {static_cast<uint8_t>(original[at] ^ (1u << (rng() % 8)))}; break;
        case 1: bytes = {static_cast<uint8_t>(rng())}; break;
        case 2: bytes = le64(interesting_u64(rng, original.size(), at)); break;
        default: {
          uint32_t v = static_cast<uint32_t>(interesting_u64(rng, original.size(), at));
          bytes.resize(4);
          std::memcpy(bytes.data(), &v, 4);
        }
      }
      bytes.resize(std::min(bytes.size(), original.size() - at));
      edits.emplace_back(at, std::move(bytes));
    }
    try_mutation(fd, p, edits, original, out, it);
  }
  return out;
}

}  // namespace

TEST_CASE("gguf mutation: random header corruption of stories260K-q8_0", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.file("m.gguf");
  const std::vector<uint8_t> original = read_bytes(shared_model("stories260K-q8_0.gguf"));
  write_bytes(p, original);
  const size_t region = gguf_file::open(p).data_offset();  // the whole header with its padding
  const outcome out = mutate(p, original, region, 3000, 0x6767756675ULL);
  INFO("opened " << out.opened << ", rejected " << out.rejected);
  CHECK(out.opened + out.rejected == 3000);
  // Both outcomes occur, so the test exercises the accepting paths as well as the rejecting.
  CHECK(out.opened > 100);
  CHECK(out.rejected > 100);
  CHECK(read_bytes(p) == original);  // every mutation was undone
}

TEST_CASE("gguf mutation: random corruption of a file with every value type", "[gguf]") {
  // The fixture has no nested, bool or 64-bit arrays; this file has them all.
  temp_dir dir;
  const fs::path p = dir.file("m.gguf");
  gguf_writer w;
  w.add_kv("general.alignment", mv::u32(64));
  w.add_kv("b", mv::boolean(true));
  w.add_kv("u64", mv::u64(5));
  w.add_kv("f64", mv::f64(0.5));
  w.add_kv("s", mv::string("hello"));
  w.add_kv("a_bool", mv::bool_array({true, false}));
  w.add_kv("a_i64", mv::array(std::vector<int64_t>{1, -1}));
  w.add_kv("a_str", mv::string_array(std::vector<std::string>{"x", "yz", ""}));
  std::vector<mv> inner = {mv::array(std::vector<uint16_t>{7, 8}),
                           mv::string_array(std::vector<std::string>{"q"})};
  w.add_kv("a_nested", mv::array_of_arrays(std::vector<mv>{mv::array_of_arrays(inner),
                                                           mv::array(std::vector<float>{1})}));
  w.add_tensor("a", ggml_type::f32, {4, 3}, std::vector<uint8_t>(48, 1));
  w.add_tensor("b", ggml_type::q8_0, {64, 2}, std::vector<uint8_t>(136, 2));
  w.write(p);
  const std::vector<uint8_t> original = read_bytes(p);
  const outcome out = mutate(p, original, w.header().size(), 2000, 42);
  INFO("opened " << out.opened << ", rejected " << out.rejected);
  CHECK(out.opened > 50);
  CHECK(out.rejected > 50);
}

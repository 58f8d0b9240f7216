// Huge counts in a huge (sparse) file. The reader bounds each count by the bytes left, which
// for a small file also bounds memory; in a file of a terabyte the bound is no longer small, so
// the reader must not allocate up front in proportion to a count it has not yet read through.
// A failure here was std::bad_alloc (or an ASan abort) instead of a load_error.
//
// Where the filesystem cannot hold a sparse file of 1 TiB, each test says so: a warning with
// the marker HEARTH_TEST_SKIPPED, which CTest reports as "Skipped" (tests/CMakeLists.txt), never
// a silent pass.
#include <catch2/catch.hpp>

#include "engine/gguf_test_util.h"
#include "gguf/gguf_file.h"

using namespace hearth;
using namespace hearth::test;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t huge_size = 1ULL << 40;  // 1 TiB; holes read as zeros and take no disk

struct header_bytes {
  std::vector<uint8_t> b;
  template <class T>
  header_bytes& put(T v) {
    size_t at = b.size();
    b.resize(at + sizeof(T));
    std::memcpy(b.data() + at, &v, sizeof(T));
    return *this;
  }
  header_bytes& put_string(std::string_view s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
};

header_bytes gguf_start(uint64_t n_tensors, uint64_t n_kv) {
  header_bytes h;
  h.put<uint32_t>(0x46554747).put<uint32_t>(3).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
  return h;
}

// Writes `head` then extends the file with a hole to huge_size. False (and the test reports
// itself skipped) if the filesystem cannot.
bool make_sparse(const fs::path& p, const std::vector<uint8_t>& head) {
  write_bytes(p, head);
  std::error_code ec;
  fs::resize_file(p, huge_size, ec);
  if (ec) WARN("HEARTH_TEST_SKIPPED: cannot make a sparse file of 1 TiB in " << p.parent_path() << ": " << ec.message());
  return !ec;
}

}  // namespace

TEST_CASE("gguf huge file: metadata count bounded only by a terabyte", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.file("huge.gguf");
  // Zeros parse as key/values with an empty key and a uint8 value: the second is a duplicate.
  if (!make_sparse(p, gguf_start(0, (huge_size - 24) / 13).b)) return;
  check_message(open_error(p), p, {"duplicate metadata ''"});
}

TEST_CASE("gguf huge file: tensor count bounded only by a terabyte", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.file("huge.gguf");
  // Zeros parse as a tensor info with an empty name and 0 dims.
  if (!make_sparse(p, gguf_start((huge_size - 24) / 32, 0).b)) return;
  check_message(open_error(p), p, {"tensor ''", "n_dims 0"});
}

TEST_CASE("gguf huge file: string array count bounded only by a terabyte", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.file("huge.gguf");
  header_bytes h = gguf_start(0, 1);
  h.put_string("a").put<uint32_t>(9).put<uint32_t>(8);      // array of strings
  const uint64_t count = (huge_size - h.b.size() - 8) / 8;  // at 8 bytes per empty string
  h.put<uint64_t>(count);
  h.b.resize(h.b.size() + 10 * 8);  // ten empty strings, then one too long
  h.put<uint64_t>(1ULL << 63);
  if (!make_sparse(p, h.b)) return;
  check_message(open_error(p), p, {"metadata 'a'", "more than 16777216 array strings"});
}

TEST_CASE("gguf huge file: nested array count bounded only by a terabyte", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.file("huge.gguf");
  header_bytes h = gguf_start(0, 1);
  h.put_string("a").put<uint32_t>(9).put<uint32_t>(9);       // array of arrays
  const uint64_t count = (huge_size - h.b.size() - 8) / 12;  // at 12 bytes per empty array
  h.put<uint64_t>(count);
  h.put<uint32_t>(13);  // element 0: an array of an unknown type
  if (!make_sparse(p, h.b)) return;
  check_message(open_error(p), p, {"metadata 'a'", "more than 1048576 nested arrays"});
}

// At the caps, counts pass; what they would reserve still grows only as elements parse.
TEST_CASE("gguf huge file: a string array at the cap is not reserved ahead of its elements", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.file("huge.gguf");
  header_bytes h = gguf_start(0, 1);
  h.put_string("a").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(uint64_t{1} << 24);
  h.b.resize(h.b.size() + 10 * 8);  // ten empty strings, then one too long
  h.put<uint64_t>(1ULL << 63);
  if (!make_sparse(p, h.b)) return;
  check_message(open_error(p), p, {"metadata 'a'[10]", "string length 9223372036854775808", "exceeds"});
}

TEST_CASE("gguf huge file: a nested array at the cap is not reserved ahead of its elements", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.file("huge.gguf");
  header_bytes h = gguf_start(0, 1);
  h.put_string("a").put<uint32_t>(9).put<uint32_t>(9).put<uint64_t>(uint64_t{1} << 20);
  h.put<uint32_t>(13);  // element 0: an array of an unknown type
  if (!make_sparse(p, h.b)) return;
  check_message(open_error(p), p, {"metadata 'a'[0]", "unknown array element type 13"});
}

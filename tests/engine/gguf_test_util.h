#pragma once
// Helpers shared by the GGUF writer, corruption, truncation and mutation tests.
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "temp_dir.h"

namespace hearth::test {

// Offsets and sizes at the edges of 64 bits, for corrupt headers.
inline constexpr uint64_t two63 = uint64_t{1} << 63;
inline constexpr uint64_t max64 = ~uint64_t{0};

// The shared fixture model `name` (e.g. "stories260K-q8_0.gguf").
std::filesystem::path shared_model(const std::string& name);

std::vector<uint8_t> read_bytes(const std::filesystem::path& p);
void write_bytes(const std::filesystem::path& p, const std::vector<uint8_t>& bytes);

// Overwrites sizeof(T) bytes at `at` with v, little-endian (the host order; GGUF's too).
template <class T>
void patch(std::vector<uint8_t>& bytes, size_t at, T v) {
  if (at + sizeof(T) > bytes.size()) throw std::out_of_range("patch past the end");
  std::memcpy(bytes.data() + at, &v, sizeof(T));
}
template <class T>
T peek(const std::vector<uint8_t>& bytes, size_t at) {
  if (at + sizeof(T) > bytes.size()) throw std::out_of_range("peek past the end");
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof(T));
  return v;
}

// Opens `p` expecting a load_error and returns its message. Fails the test if the file opens;
// any other exception type propagates, which Catch reports as a failure too.
std::string open_error(const std::filesystem::path& p);

// Checks a load_error message: it starts with the file's path and contains every one of `parts`.
void check_message(const std::string& msg, const std::filesystem::path& p,
                   const std::vector<std::string>& parts);

// Reads every tensor byte and every metadata byte of `f` (so ASan sees any out-of-bounds view)
// and returns their sum.
uint64_t touch_everything(const gguf_file& f);

// Checks every view `f` hands out against the bytes of the file it mapped (`file`): each tensor
// lies inside the file at data_offset + offset and holds exactly those bytes, and every key,
// string and scalar array lies inside the mapping. (ASan does not police mmap'd memory, so
// reading the views alone would miss a view that runs a few bytes past the end.) Returns an
// empty string, or what is wrong.
std::string check_views(const gguf_file& f, const std::vector<uint8_t>& file);

// Raw bytes of a vector of trivially copyable values.
template <class T>
std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<uint8_t> out(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

std::vector<uint8_t> le64(uint64_t v);
std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b);

// An unchecked tensor record whose bytes (nbytes of 0x5a) really are written; `offset` overrides
// the offset the header records.
gguf_tensor_record record(std::string name, uint32_t type_id, std::vector<uint64_t> dims,
                          uint64_t nbytes, std::optional<uint64_t> offset = std::nullopt);

// Writes `w` to a temp file and checks its load_error (see check_message).
void expect_error(const gguf_writer& w, const std::vector<std::string>& parts);

// Applies `edit` to a copy of the q8_0 fixture and checks its load_error (see check_message).
void expect_patched_error(const std::function<void(std::vector<uint8_t>&)>& edit,
                          const std::vector<std::string>& parts);

}  // namespace hearth::test

#pragma once
// Bytes as a file with a path, in memory (memfd): lets the fuzz targets drive code that opens a
// path and maps it (gguf_file::open, model::load) with no second, in-memory parser and no disk.
// The path (/proc/self/fd/N) is valid for this process while the object lives.
#include <cstdint>
#include <span>
#include <string>

namespace hearth::fuzz {

class memory_file {
 public:
  // Throws std::system_error if the kernel refuses a memfd.
  explicit memory_file(std::span<const uint8_t> bytes);
  ~memory_file();
  memory_file(const memory_file&) = delete;
  memory_file& operator=(const memory_file&) = delete;

  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace hearth::fuzz

#pragma once
// A GGUF model file (v2/v3, little-endian), memory-mapped read-only and validated before use.
//
// open() checks every count, length, dimension, offset and size against the bytes actually in
// the file, with overflow-safe arithmetic, and throws load_error naming the file, the field or
// tensor, and expected versus found. After a successful open, every tensor's bytes lie inside
// the mapping and every metadata value is fully parsed; weights are used in place.
//
// What parsing builds (metadata entries, string views, nested arrays, tensor infos, indexes) is
// bounded relative to the file: at most twice the file's bytes plus 16 MiB, and at most 2^24
// array strings and 2^20 nested arrays in all; beyond that open() fails naming the key.
//
// The file stays open and mapped for the object's life. If it is truncated or rewritten in place
// meanwhile, reads of vanished pages return zeros instead of killing the process (see
// mapping_guard), and change_on_disk() says so: check it after using the mapped bytes.
//
// Immutable after open(): safe to read from any thread.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/ggml_type.h"
#include "gguf/mapping_guard.h"
#include "load_error.h"

namespace hearth {

enum class gguf_value_type : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

// Bytes of one scalar of type t as the file stores it; 0 for strings and arrays.
size_t gguf_scalar_size(gguf_value_type t);
std::string_view gguf_value_type_name(gguf_value_type t);

struct gguf_value;

// An array value. Scalar elements stay in the mapped file (raw little-endian bytes, possibly
// unaligned); strings are views into the mapping; nested arrays are parsed recursively.
struct gguf_array {
  gguf_value_type elem_type = gguf_value_type::u8;
  uint64_t count = 0;
  const uint8_t* raw = nullptr;              // scalar elements
  std::vector<std::string_view> strings;     // elem_type == string
  std::vector<gguf_value> arrays;            // elem_type == array
};

struct gguf_value {
  gguf_value_type type = gguf_value_type::u8;
  uint64_t u = 0;     // unsigned integers, bool
  int64_t i = 0;      // signed integers
  double f = 0;       // floats
  std::string_view s; // string
  std::shared_ptr<const gguf_array> arr;

  bool is_integer() const;
  bool is_float() const { return type == gguf_value_type::f32 || type == gguf_value_type::f64; }
};

struct gguf_tensor {
  std::string_view name;
  ggml_type type = ggml_type::f32;
  uint32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the contiguous (row) dimension
  uint64_t offset = 0;           // relative to the data section
  size_t nbytes = 0;
  const uint8_t* data = nullptr;

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  std::string shape_string() const;  // "[64, 512]"
};

class gguf_file {
 public:
  // Maps and validates the file. Throws load_error.
  static gguf_file open(const std::filesystem::path& path);

  gguf_file(gguf_file&&) noexcept;
  gguf_file& operator=(gguf_file&&) noexcept;
  gguf_file(const gguf_file&) = delete;
  gguf_file& operator=(const gguf_file&) = delete;
  ~gguf_file();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  size_t file_size() const { return size_; }
  int64_t mtime_ns() const { return mtime_ns_; }  // the modification time when opened
  size_t data_offset() const { return data_offset_; }
  // The file's bytes before the tensor data: header, metadata, tensor infos and padding.
  std::span<const uint8_t> header_bytes() const { return {base_, data_offset_}; }
  // Bytes the parsed structures were charged (see the top of this file).
  size_t parsed_bytes() const { return parsed_bytes_; }

  // Unmaps this process's copies of the whole pages inside [data, data + n), a range of the
  // mapping, for a reader done with them (`hearth quantize`, tensor after tensor, so the input's
  // pages do not all stay resident). The bytes stay valid: the page cache keeps the file's pages
  // and a later read maps them in again. Any thread.
  void release_pages(const uint8_t* data, size_t n) const;

  // Why the bytes of the mapping can no longer be trusted, or nullopt: a page of it vanished (the
  // file was truncated: those pages now read as zeros), or the open file's size or modification
  // time differs from when it was opened (rewritten in place). Replacing the file by rename is
  // not a change: the mapping keeps the old file. Costs one fstat; any thread.
  std::optional<std::string> change_on_disk() const;

  // Metadata in file order, and lookup by key.
  const std::vector<std::pair<std::string_view, gguf_value>>& metadata() const { return kv_; }
  const gguf_value* find(std::string_view key) const;

  // Typed getters. A present key of the wrong type throws load_error naming the key, the
  // expected and the actual type; an absent key gives nullopt.
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;  // accepts integers too
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string_view> get_string(std::string_view key) const;
  const gguf_array* get_array(std::string_view key) const;
  // Arrays converted element-wise; throws load_error if the element type does not fit.
  std::vector<std::string_view> get_string_array(std::string_view key) const;
  std::vector<float> get_f32_array(std::string_view key) const;
  std::vector<int32_t> get_i32_array(std::string_view key) const;

  const std::vector<gguf_tensor>& tensors() const { return tensors_; }
  const gguf_tensor* find_tensor(std::string_view name) const;

  // A load_error whose message starts with this file's path.
  load_error error(const std::string& what) const;

 private:
  struct parser;  // gguf_file.cpp: reads the sections in order
  gguf_file() = default;
  void close();

  std::string path_;
  int fd_ = -1;
  int64_t mtime_ns_ = 0;
  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  mapping_guard guard_;
  size_t parsed_bytes_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::vector<std::pair<std::string_view, gguf_value>> kv_;
  std::unordered_map<std::string_view, size_t> kv_index_;
  std::vector<gguf_tensor> tensors_;
  std::unordered_map<std::string_view, size_t> tensor_index_;
};

}  // namespace hearth

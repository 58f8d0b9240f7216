#pragma once
// Writes GGUF v3 files (little-endian) in the layout ggml and the gguf python package produce:
//   magic "GGUF", version 3, tensor count (u64), metadata count (u64),
//   key/value pairs, tensor infos, zero padding to the alignment,
//   data section: each tensor's bytes at an aligned offset, each followed by zero padding.
//
// Tensor bytes are held by the writer only when given as a vector. A producer callback instead
// streams them at write() time, so a multi-gigabyte file needs no more memory than one I/O
// buffer: the header is computed from the tensor infos alone (sizes are known up front).
//
// Tensors are packed in the order added, each at the next aligned offset: ggml requires exactly
// that order. add_kv() and add_tensor() reject, with std::invalid_argument, anything hearth's
// reader or ggml would reject, with one exception: nested arrays (array_of_arrays) are valid
// GGUF and hearth reads them, but ggml's loader refuses them, so keep them out of files meant
// for llama.cpp. The *_unchecked variants record whatever they are given: they exist so tests
// can build malformed files.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "gguf/ggml_type.h"
#include "gguf/gguf_file.h"

namespace hearth {

// The GGUF value type of a C++ scalar used in a metadata array (bool is not one: its arrays go
// through bool_array, since std::vector<bool> has no contiguous storage).
template <class T>
constexpr gguf_value_type gguf_scalar_type_of() {
  if constexpr (std::is_same_v<T, uint8_t>)
    return gguf_value_type::u8;
  else if constexpr (std::is_same_v<T, int8_t>)
    return gguf_value_type::i8;
  else if constexpr (std::is_same_v<T, uint16_t>)
    return gguf_value_type::u16;
  else if constexpr (std::is_same_v<T, int16_t>)
    return gguf_value_type::i16;
  else if constexpr (std::is_same_v<T, uint32_t>)
    return gguf_value_type::u32;
  else if constexpr (std::is_same_v<T, int32_t>)
    return gguf_value_type::i32;
  else if constexpr (std::is_same_v<T, uint64_t>)
    return gguf_value_type::u64;
  else if constexpr (std::is_same_v<T, int64_t>)
    return gguf_value_type::i64;
  else if constexpr (std::is_same_v<T, float>)
    return gguf_value_type::f32;
  else if constexpr (std::is_same_v<T, double>)
    return gguf_value_type::f64;
  else
    static_assert(sizeof(T) == 0, "not a GGUF scalar type");
}

// One metadata value, already encoded: its type id and the bytes that follow the type id on
// disk (for an array: element type, count, then the elements).
class gguf_meta_value {
 public:
  static gguf_meta_value u8(uint8_t v);
  static gguf_meta_value i8(int8_t v);
  static gguf_meta_value u16(uint16_t v);
  static gguf_meta_value i16(int16_t v);
  static gguf_meta_value u32(uint32_t v);
  static gguf_meta_value i32(int32_t v);
  static gguf_meta_value u64(uint64_t v);
  static gguf_meta_value i64(int64_t v);
  static gguf_meta_value f32(float v);
  static gguf_meta_value f64(double v);
  static gguf_meta_value boolean(bool v);
  static gguf_meta_value string(std::string_view s);

  // An array of scalars (T is one of the fixed-width integers, float or double).
  template <class T>
  static gguf_meta_value array(std::span<const T> elems) {
    return scalar_array(gguf_scalar_type_of<T>(), elems.data(), elems.size(), sizeof(T));
  }
  template <class T>
  static gguf_meta_value array(const std::vector<T>& elems) {
    return array(std::span<const T>(elems));
  }
  static gguf_meta_value bool_array(const std::vector<bool>& elems);
  // An array of strings from any range of things convertible to std::string_view.
  template <class Range>
  static gguf_meta_value string_array(const Range& strings) {
    gguf_meta_value v = begin_array(gguf_value_type::string, std::size(strings));
    for (const auto& s : strings) v.append_string(std::string_view(s));
    return v;
  }
  // An array whose elements are arrays (each with its own element type). Throws
  // std::invalid_argument if an element is not an array. Not loadable by ggml (see above).
  static gguf_meta_value array_of_arrays(std::span<const gguf_meta_value> elems);

  // A deep copy of a value read by gguf_file, e.g. to carry a tokenizer into a new file.
  static gguf_meta_value copy_of(const gguf_value& v);

  // Any type id followed by any bytes, unchecked: for tests that build malformed files.
  // add_kv() refuses such a value (and any array containing one).
  static gguf_meta_value raw(uint32_t type_id, std::vector<uint8_t> payload);

  uint32_t type_id() const { return type_id_; }
  const std::vector<uint8_t>& payload() const { return payload_; }
  bool well_formed() const { return well_formed_; }

 private:
  gguf_meta_value(gguf_value_type t) : type_id_(static_cast<uint32_t>(t)) {}
  static gguf_meta_value scalar_array(gguf_value_type elem, const void* data, size_t count,
                                      size_t elem_size);
  static gguf_meta_value begin_array(gguf_value_type elem, uint64_t count);
  void append_string(std::string_view s);

  uint32_t type_id_;
  std::vector<uint8_t> payload_;
  bool well_formed_ = true;
};

// Receives a tensor's bytes in order, in any number of calls.
using gguf_byte_sink = std::function<void(const void* data, size_t n)>;
// Writes exactly the tensor's byte size into the sink. Called once per write().
using gguf_tensor_producer = std::function<void(const gguf_byte_sink& sink)>;

// A tensor as the header records it, plus where its bytes come from.
struct gguf_tensor_record {
  std::string name;
  uint32_t type_id = 0;            // a ggml_type id
  std::vector<uint64_t> dims;      // ne[0] (the row) first
  uint64_t nbytes = 0;             // bytes produce() writes; the layout reserves exactly these
  std::optional<uint64_t> offset;  // offset recorded in the header; default: where the bytes go
  gguf_tensor_producer produce;
};

class gguf_writer {
 public:
  static constexpr uint32_t default_alignment = 32;  // GGUF's, when general.alignment is absent
  static constexpr size_t max_tensor_name = 63;      // ggml's GGML_MAX_NAME (64) less the NUL

  // Throws std::invalid_argument on a duplicate key, a raw() value, or a general.alignment that
  // is not a uint32 power of two.
  void add_kv(std::string key, gguf_meta_value value);
  // Throws std::invalid_argument on a duplicate or over-long name, 0 or more than 4 dims, a
  // dim < 1, more than 2^63-1 elements, a row not a multiple of the type's block, or data whose
  // size differs from the size the type and shape imply.
  void add_tensor(std::string name, ggml_type type, std::vector<int64_t> ne,
                  std::vector<uint8_t> data);
  void add_tensor(std::string name, ggml_type type, std::vector<int64_t> ne,
                  gguf_tensor_producer produce);

  // Record exactly what is given: for tests that build malformed files.
  void add_kv_unchecked(std::string key, gguf_meta_value value);
  void add_tensor_unchecked(gguf_tensor_record record);

  // general.alignment when present as a uint32 power of two, else default_alignment.
  uint64_t alignment() const;
  // Everything before the data section: counts, metadata, tensor infos, padding.
  std::vector<uint8_t> header() const;
  uint64_t data_size() const;  // every tensor's bytes with their padding
  uint64_t file_size() const { return header().size() + data_size(); }

  // Writes to `path` + ".tmp", then renames it to `path`: `path` is either the old file or the
  // complete new one. On failure (I/O error, a producer that throws or writes the wrong number of
  // bytes) the temporary file is removed and the exception propagates: std::system_error for
  // I/O, std::logic_error for a producer's byte count.
  void write(const std::filesystem::path& path) const;

 private:
  uint64_t tensor_size_checked(const std::string& name, ggml_type type,
                               const std::vector<int64_t>& ne) const;

  std::vector<std::pair<std::string, gguf_meta_value>> kv_;
  std::vector<gguf_tensor_record> tensors_;
};

}  // namespace hearth

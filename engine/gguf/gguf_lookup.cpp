// Lookups in a parsed GGUF file: metadata by key with typed getters, tensors by name.
#include <cstring>
#include <limits>

#include "gguf/gguf_file.h"

namespace hearth {

std::string_view gguf_value_type_name(gguf_value_type t) {
  switch (t) {
    case gguf_value_type::u8: return "uint8";
    case gguf_value_type::i8: return "int8";
    case gguf_value_type::u16: return "uint16";
    case gguf_value_type::i16: return "int16";
    case gguf_value_type::u32: return "uint32";
    case gguf_value_type::i32: return "int32";
    case gguf_value_type::f32: return "float32";
    case gguf_value_type::boolean: return "bool";
    case gguf_value_type::string: return "string";
    case gguf_value_type::array: return "array";
    case gguf_value_type::u64: return "uint64";
    case gguf_value_type::i64: return "int64";
    case gguf_value_type::f64: return "float64";
  }
  return "unknown";
}

bool gguf_value::is_integer() const {
  switch (type) {
    case gguf_value_type::u8: case gguf_value_type::i8: case gguf_value_type::u16:
    case gguf_value_type::i16: case gguf_value_type::u32: case gguf_value_type::i32:
    case gguf_value_type::u64: case gguf_value_type::i64: return true;
    default: return false;
  }
}

std::string gguf_tensor::shape_string() const {
  std::string s = "[";
  for (uint32_t d = 0; d < n_dims; ++d) {
    if (d) s += ", ";
    s += std::to_string(ne[d]);
  }
  return s + "]";
}

const gguf_value* gguf_file::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const gguf_tensor* gguf_file::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
[[noreturn]] void wrong_type(const gguf_file& f, std::string_view key, const char* expected,
                             gguf_value_type got) {
  throw f.error("metadata '" + std::string(key) + "': type " +
                std::string(gguf_value_type_name(got)) + " (expected " + expected + ")");
}
}  // namespace

std::optional<int64_t> gguf_file::get_int(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer()) wrong_type(*this, key, "an integer", v->type);
  if (v->type == gguf_value_type::u64 || v->type == gguf_value_type::u32 ||
      v->type == gguf_value_type::u16 || v->type == gguf_value_type::u8) {
    if (v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      throw error("metadata '" + std::string(key) + "': value " + std::to_string(v->u) + " too large");
    }
    return static_cast<int64_t>(v->u);
  }
  return v->i;
}

std::optional<double> gguf_file::get_float(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return std::nullopt;
  if (v->is_float()) return v->f;
  if (v->is_integer()) return static_cast<double>(*get_int(key));
  wrong_type(*this, key, "a number", v->type);
}

std::optional<bool> gguf_file::get_bool(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != gguf_value_type::boolean) wrong_type(*this, key, "bool", v->type);
  return v->u != 0;
}

std::optional<std::string_view> gguf_file::get_string(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != gguf_value_type::string) wrong_type(*this, key, "string", v->type);
  return v->s;
}

const gguf_array* gguf_file::get_array(std::string_view key) const {
  const gguf_value* v = find(key);
  if (!v) return nullptr;
  if (v->type != gguf_value_type::array) wrong_type(*this, key, "array", v->type);
  return v->arr.get();
}

std::vector<std::string_view> gguf_file::get_string_array(std::string_view key) const {
  const gguf_array* a = get_array(key);
  if (!a) return {};
  if (a->elem_type != gguf_value_type::string) {
    throw error("metadata '" + std::string(key) + "': array of " +
                std::string(gguf_value_type_name(a->elem_type)) + " (expected array of string)");
  }
  return a->strings;
}

std::vector<float> gguf_file::get_f32_array(std::string_view key) const {
  const gguf_array* a = get_array(key);
  if (!a) return {};
  std::vector<float> out(a->count);
  if (a->elem_type == gguf_value_type::f32) {
    // Guarded: an empty vector's data() may be null, and memcpy's pointers must not be.
    if (a->count) std::memcpy(out.data(), a->raw, a->count * sizeof(float));
  } else if (a->elem_type == gguf_value_type::f64) {
    for (uint64_t k = 0; k < a->count; ++k) {
      double d;
      std::memcpy(&d, a->raw + 8 * k, 8);
      out[k] = static_cast<float>(d);
    }
  } else {
    throw error("metadata '" + std::string(key) + "': array of " +
                std::string(gguf_value_type_name(a->elem_type)) + " (expected array of float32)");
  }
  return out;
}

std::vector<int32_t> gguf_file::get_i32_array(std::string_view key) const {
  const gguf_array* a = get_array(key);
  if (!a) return {};
  std::vector<int32_t> out(a->count);
  switch (a->elem_type) {
    case gguf_value_type::i32: case gguf_value_type::u32:
      if (a->count) std::memcpy(out.data(), a->raw, a->count * 4);  // see get_f32_array
      break;
    case gguf_value_type::i8: for (uint64_t k = 0; k < a->count; ++k) out[k] = static_cast<int8_t>(a->raw[k]); break;
    case gguf_value_type::u8: for (uint64_t k = 0; k < a->count; ++k) out[k] = a->raw[k]; break;
    default:
      throw error("metadata '" + std::string(key) + "': array of " +
                  std::string(gguf_value_type_name(a->elem_type)) + " (expected array of int32)");
  }
  return out;
}

}  // namespace hearth

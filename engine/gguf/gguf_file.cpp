#include "gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

namespace hearth {

static_assert(std::endian::native == std::endian::little, "hearth reads GGUF on little-endian hosts");

namespace {

constexpr uint32_t gguf_magic = 0x46554747;  // "GGUF"
constexpr int max_array_depth = 8;
constexpr size_t max_name_length = 1024;
// The most entries reserved ahead of parsing them. A count is only bounded by the bytes left,
// which in a file of many gigabytes still allows reservations larger than memory: vectors grow
// past this as entries actually parse, so memory follows what the file really contains.
constexpr uint64_t max_reserve = 1 << 16;

size_t reserve_size(uint64_t count) { return static_cast<size_t>(std::min(count, max_reserve)); }

size_t scalar_size(gguf_value_type t) {
  switch (t) {
    case gguf_value_type::u8: case gguf_value_type::i8: case gguf_value_type::boolean: return 1;
    case gguf_value_type::u16: case gguf_value_type::i16: return 2;
    case gguf_value_type::u32: case gguf_value_type::i32: case gguf_value_type::f32: return 4;
    case gguf_value_type::u64: case gguf_value_type::i64: case gguf_value_type::f64: return 8;
    case gguf_value_type::string: case gguf_value_type::array: return 0;
  }
  return 0;
}

bool known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(gguf_value_type::f64); }

// Bounds-checked cursor over the mapped bytes. Every read states what it reads, so a short file
// produces "truncated while reading <what>: need N bytes at offset O, file has S".
class reader {
 public:
  reader(const gguf_file& f, const uint8_t* base, size_t size) : file_(f), base_(base), size_(size) {}

  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  void need(size_t n, const std::string& what) const {
    if (n > left()) {
      throw file_.error("truncated while reading " + what + ": need " + std::to_string(n) +
                        " bytes at offset " + std::to_string(pos_) + ", file has " +
                        std::to_string(size_));
    }
  }
  template <class T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view read_string(const std::string& what) {
    uint64_t len = read<uint64_t>(what + " length");
    if (len > left()) {
      throw file_.error(what + ": string length " + std::to_string(len) + " exceeds the " +
                        std::to_string(left()) + " bytes left in the file");
    }
    std::string_view s(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return s;
  }
  const uint8_t* skip(uint64_t n, const std::string& what) {
    need(n, what);
    const uint8_t* p = base_ + pos_;
    pos_ += n;
    return p;
  }

 private:
  const gguf_file& file_;
  const uint8_t* base_;
  size_t size_;
  size_t pos_ = 0;
};

gguf_value read_value(reader& r, const gguf_file& f, gguf_value_type type, const std::string& what,
                      int depth);

// A bool array's elements obey the rule of a single bool: 0 or 1.
void check_bools(const gguf_file& f, const gguf_array& a, const std::string& what) {
  for (uint64_t k = 0; k < a.count; ++k) {
    if (a.raw[k] > 1) {
      throw f.error(what + "[" + std::to_string(k) + "]: bool value " + std::to_string(a.raw[k]) +
                    " (expected 0 or 1)");
    }
  }
}

std::shared_ptr<gguf_array> read_array(reader& r, const gguf_file& f, const std::string& what,
                                       int depth) {
  if (depth > max_array_depth) {
    throw f.error(what + ": arrays nested deeper than " + std::to_string(max_array_depth));
  }
  auto arr = std::make_shared<gguf_array>();
  uint32_t et = r.read<uint32_t>(what + " element type");
  if (!known_value_type(et)) {
    throw f.error(what + ": unknown array element type " + std::to_string(et) +
                  " (expected 0..12)");
  }
  arr->elem_type = static_cast<gguf_value_type>(et);
  arr->count = r.read<uint64_t>(what + " element count");
  size_t es = scalar_size(arr->elem_type);
  // Every element takes at least es bytes (8 for a string's or array's own header), so the
  // count can never exceed the bytes left divided by that.
  size_t min_elem = es ? es : (arr->elem_type == gguf_value_type::string ? 8 : 12);
  if (arr->count > r.left() / min_elem) {
    throw f.error(what + ": array of " + std::to_string(arr->count) + " " +
                  std::string(gguf_value_type_name(arr->elem_type)) + " elements needs at least " +
                  (arr->count > std::numeric_limits<uint64_t>::max() / min_elem
                       ? std::string("more than 2^64")
                       : std::to_string(arr->count * min_elem)) +
                  " bytes, only " + std::to_string(r.left()) + " left");
  }
  if (es) {
    arr->raw = r.skip(arr->count * es, what + " elements");
    if (arr->elem_type == gguf_value_type::boolean) check_bools(f, *arr, what);
  } else if (arr->elem_type == gguf_value_type::string) {
    arr->strings.reserve(reserve_size(arr->count));
    for (uint64_t k = 0; k < arr->count; ++k) {
      arr->strings.push_back(r.read_string(what + "[" + std::to_string(k) + "]"));
    }
  } else {
    arr->arrays.reserve(reserve_size(arr->count));
    for (uint64_t k = 0; k < arr->count; ++k) {
      arr->arrays.push_back(read_value(r, f, gguf_value_type::array,
                                       what + "[" + std::to_string(k) + "]", depth + 1));
    }
  }
  return arr;
}

gguf_value read_value(reader& r, const gguf_file& f, gguf_value_type type, const std::string& what,
                      int depth) {
  gguf_value v;
  v.type = type;
  switch (type) {
    case gguf_value_type::u8: v.u = r.read<uint8_t>(what); break;
    case gguf_value_type::u16: v.u = r.read<uint16_t>(what); break;
    case gguf_value_type::u32: v.u = r.read<uint32_t>(what); break;
    case gguf_value_type::u64: v.u = r.read<uint64_t>(what); break;
    case gguf_value_type::i8: v.i = r.read<int8_t>(what); break;
    case gguf_value_type::i16: v.i = r.read<int16_t>(what); break;
    case gguf_value_type::i32: v.i = r.read<int32_t>(what); break;
    case gguf_value_type::i64: v.i = r.read<int64_t>(what); break;
    case gguf_value_type::f32: v.f = r.read<float>(what); break;
    case gguf_value_type::f64: v.f = r.read<double>(what); break;
    case gguf_value_type::boolean: {
      uint8_t b = r.read<uint8_t>(what);
      if (b > 1) throw f.error(what + ": bool value " + std::to_string(b) + " (expected 0 or 1)");
      v.u = b;
      break;
    }
    case gguf_value_type::string: v.s = r.read_string(what); break;
    case gguf_value_type::array: v.arr = read_array(r, f, what, depth); break;
  }
  return v;
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t limit) { return a != 0 && b > limit / a; }

}  // namespace

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

load_error gguf_file::error(const std::string& what) const { return load_error(path_ + ": " + what); }

gguf_file gguf_file::open(const std::filesystem::path& path) {
  gguf_file f;
  f.path_ = path.string();
  int fd = ::open(f.path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw f.error(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw f.error("not a regular file");
  }
  f.size_ = static_cast<size_t>(st.st_size);
  if (f.size_ < 24) {
    ::close(fd);
    throw f.error("file is " + std::to_string(f.size_) +
                  " bytes, shorter than a GGUF header (24 bytes)");
  }
  void* m = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw f.error(std::string("mmap failed: ") + std::strerror(errno));
  f.base_ = static_cast<const uint8_t*>(m);
  f.parse();  // on throw, ~gguf_file unmaps
  return f;
}

gguf_file::gguf_file(gguf_file&& o) noexcept { *this = std::move(o); }

gguf_file& gguf_file::operator=(gguf_file&& o) noexcept {
  if (this != &o) {
    if (base_) ::munmap(const_cast<uint8_t*>(base_), size_);
    path_ = std::move(o.path_);
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    version_ = o.version_;
    alignment_ = o.alignment_;
    data_offset_ = o.data_offset_;
    kv_ = std::move(o.kv_);
    kv_index_ = std::move(o.kv_index_);
    tensors_ = std::move(o.tensors_);
    tensor_index_ = std::move(o.tensor_index_);
  }
  return *this;
}

gguf_file::~gguf_file() {
  if (base_) ::munmap(const_cast<uint8_t*>(base_), size_);
}

void gguf_file::parse() {
  reader r(*this, base_, size_);
  uint32_t magic = r.read<uint32_t>("magic");
  if (magic != gguf_magic) {
    char got[5] = {};
    std::memcpy(got, &magic, 4);
    for (char& c : got) if (c && (c < 32 || c > 126)) c = '?';
    throw error(std::string("not a GGUF file: magic \"") + got + "\" (expected \"GGUF\")");
  }
  version_ = r.read<uint32_t>("version");
  if (version_ != 2 && version_ != 3) {
    throw error("unsupported GGUF version " + std::to_string(version_) + " (expected 2 or 3)");
  }
  uint64_t n_tensors = r.read<uint64_t>("tensor count");
  uint64_t n_kv = r.read<uint64_t>("metadata count");
  // Smallest possible entries: a key/value is 8 (key length) + 4 (type) + 1 byte; a tensor
  // info is 8 (name length) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset).
  if (n_kv > r.left() / 13) {
    throw error("metadata count " + std::to_string(n_kv) + " cannot fit in the " +
                std::to_string(r.left()) + " bytes left");
  }
  if (n_tensors > r.left() / 32) {
    throw error("tensor count " + std::to_string(n_tensors) + " cannot fit in the " +
                std::to_string(r.left()) + " bytes left");
  }

  kv_.reserve(reserve_size(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string what = "metadata entry " + std::to_string(k);
    std::string_view key = r.read_string(what + " key");
    what = "metadata '" + std::string(key.substr(0, max_name_length)) + "'";
    uint32_t t = r.read<uint32_t>(what + " type");
    if (!known_value_type(t)) {
      throw error(what + ": unknown value type " + std::to_string(t) + " (expected 0..12)");
    }
    gguf_value v = read_value(r, *this, static_cast<gguf_value_type>(t), what, 0);
    if (!kv_index_.emplace(key, kv_.size()).second) throw error("duplicate " + what);
    kv_.emplace_back(key, std::move(v));
  }

  if (const gguf_value* a = find("general.alignment")) {
    if (a->type != gguf_value_type::u32) {
      throw error("metadata 'general.alignment': type " +
                  std::string(gguf_value_type_name(a->type)) + " (expected uint32)");
    }
    if (a->u == 0 || (a->u & (a->u - 1)) != 0) {
      throw error("metadata 'general.alignment': " + std::to_string(a->u) +
                  " is not a power of two");
    }
    alignment_ = a->u;
  }

  tensors_.reserve(reserve_size(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    std::string what = "tensor info " + std::to_string(k);
    gguf_tensor t;
    t.name = r.read_string(what + " name");
    if (t.name.size() > max_name_length) {
      throw error(what + ": name of " + std::to_string(t.name.size()) + " bytes (at most " +
                  std::to_string(max_name_length) + ")");
    }
    what = "tensor '" + std::string(t.name) + "'";
    t.n_dims = r.read<uint32_t>(what + " n_dims");
    if (t.n_dims < 1 || t.n_dims > 4) {
      throw error(what + ": n_dims " + std::to_string(t.n_dims) + " (expected 1..4)");
    }
    uint64_t elements = 1;
    for (uint32_t d = 0; d < t.n_dims; ++d) {
      uint64_t ne = r.read<uint64_t>(what + " dim " + std::to_string(d));
      if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw error(what + ": dim " + std::to_string(d) + " is " + std::to_string(ne) +
                    " (expected 1..2^63-1)");
      }
      if (mul_overflows(elements, ne, std::numeric_limits<int64_t>::max())) {
        throw error(what + ": element count overflows 64 bits at dim " + std::to_string(d));
      }
      elements *= ne;
      t.ne[d] = static_cast<int64_t>(ne);
    }
    uint32_t type_id = r.read<uint32_t>(what + " type");
    auto info = ggml_type_info(type_id);
    if (!info) throw error(what + ": unknown tensor type id " + std::to_string(type_id));
    t.type = static_cast<ggml_type>(type_id);
    if (t.ne[0] % info->block_size != 0) {
      throw error(what + ": row of " + std::to_string(t.ne[0]) + " elements is not a multiple of " +
                  std::string(info->name) + "'s block size " + std::to_string(info->block_size));
    }
    uint64_t blocks = elements / info->block_size;
    if (mul_overflows(blocks, info->type_size, std::numeric_limits<uint64_t>::max())) {
      throw error(what + ": byte size overflows 64 bits");
    }
    t.nbytes = blocks * info->type_size;
    t.offset = r.read<uint64_t>(what + " offset");
    if (t.offset % alignment_ != 0) {
      throw error(what + ": offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                  std::to_string(alignment_));
    }
    if (!tensor_index_.emplace(t.name, tensors_.size()).second) {
      throw error("duplicate tensor name '" + std::string(t.name) + "'");
    }
    tensors_.push_back(t);
  }

  // The data section starts at the next multiple of the alignment.
  size_t header_end = r.pos();
  size_t pad = (alignment_ - header_end % alignment_) % alignment_;
  if (n_tensors > 0 && pad > size_ - header_end) {
    throw error("truncated before the data section: it starts at " + std::to_string(header_end + pad) +
                ", file has " + std::to_string(size_));
  }
  data_offset_ = n_tensors > 0 ? header_end + pad : std::min(header_end + pad, size_);
  size_t data_size = size_ - data_offset_;
  for (gguf_tensor& t : tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset) {
      throw error("tensor '" + std::string(t.name) + "': offset " + std::to_string(t.offset) +
                  " + size " + std::to_string(t.nbytes) + " exceeds the data section of " +
                  std::to_string(data_size) + " bytes (expected offset + size <= " +
                  std::to_string(data_size) + ")");
    }
    t.data = base_ + data_offset_ + t.offset;
  }
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

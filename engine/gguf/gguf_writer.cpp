#include "gguf/gguf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <system_error>

namespace hearth {

static_assert(std::endian::native == std::endian::little,
              "hearth writes GGUF on little-endian hosts");

namespace {

constexpr uint32_t gguf_magic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t gguf_version = 3;
constexpr const char* alignment_key = "general.alignment";

// Appends n bytes. resize + memcpy rather than vector::insert: GCC 12 at -O3 reports a false
// -Wstringop-overflow for small inserts into a vector<uint8_t> (GCC PR106199).
void put_bytes(std::vector<uint8_t>& out, const void* p, size_t n) {
  if (n == 0) return;
  size_t at = out.size();
  out.resize(at + n);
  std::memcpy(out.data() + at, p, n);
}

template <class T>
void put(std::vector<uint8_t>& out, T v) {
  static_assert(std::is_trivially_copyable_v<T>);
  put_bytes(out, &v, sizeof(T));
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  put_bytes(out, s.data(), s.size());
}

uint64_t align_up(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}


// Appends an array's on-disk form (element type, count, elements) as gguf_file parsed it.
void encode_array(std::vector<uint8_t>& out, const gguf_array& a) {
  put<uint32_t>(out, static_cast<uint32_t>(a.elem_type));
  put<uint64_t>(out, a.count);
  if (size_t es = gguf_scalar_size(a.elem_type)) {
    put_bytes(out, a.raw, a.count * es);
  } else if (a.elem_type == gguf_value_type::string) {
    for (std::string_view s : a.strings) put_string(out, s);
  } else {
    for (const gguf_value& e : a.arrays) encode_array(out, *e.arr);
  }
}

// An output file written through one buffer. Unless commit() succeeds, the destructor closes
// and removes the file, so a failed write leaves nothing behind.
class file_out {
 public:
  explicit file_out(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot create");
    buf_.reserve(buf_capacity);
  }
  file_out(const file_out&) = delete;
  file_out& operator=(const file_out&) = delete;
  ~file_out() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) {
      std::error_code ec;
      std::filesystem::remove(path_, ec);  // best effort: an error is already propagating
    }
  }

  void put(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    if (n >= buf_capacity) {  // large chunks go straight to the file
      flush();
      write_all(p, n);
      return;
    }
    if (buf_.size() + n > buf_capacity) flush();
    buf_.insert(buf_.end(), p, p + n);
  }
  void put_zeros(size_t n) {
    static constexpr uint8_t zeros[64] = {};
    for (; n > 0; n -= std::min(n, sizeof zeros)) put(zeros, std::min(n, sizeof zeros));
  }

  // Flushes, closes (checking for deferred write errors) and renames onto `final_path`. No
  // fsync: the rename only has to keep readers from ever seeing a partial file; a file lost to a
  // power cut is rewritten, and syncing a gigabyte costs seconds.
  void commit(const std::filesystem::path& final_path) {
    flush();
    int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) fail("close failed");
    if (::rename(path_.c_str(), final_path.c_str()) != 0) {
      fail("cannot rename to " + final_path.string());
    }
    committed_ = true;
  }

 private:
  static constexpr size_t buf_capacity = 1 << 20;

  void flush() {
    write_all(buf_.data(), buf_.size());
    buf_.clear();
  }
  void write_all(const uint8_t* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) fail("write failed");
      p += w;
      n -= static_cast<size_t>(w);
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw std::system_error(errno, std::generic_category(), path_.string() + ": " + what);
  }

  std::filesystem::path path_;
  int fd_ = -1;
  bool committed_ = false;
  std::vector<uint8_t> buf_;
};

}  // namespace

// ---- gguf_meta_value ----

#define HEARTH_GGUF_SCALAR(NAME, CTYPE)            \
  gguf_meta_value gguf_meta_value::NAME(CTYPE v) { \
    gguf_meta_value m(gguf_value_type::NAME);      \
    put<CTYPE>(m.payload_, v);                     \
    return m;                                      \
  }
HEARTH_GGUF_SCALAR(u8, uint8_t)
HEARTH_GGUF_SCALAR(i8, int8_t)
HEARTH_GGUF_SCALAR(u16, uint16_t)
HEARTH_GGUF_SCALAR(i16, int16_t)
HEARTH_GGUF_SCALAR(u32, uint32_t)
HEARTH_GGUF_SCALAR(i32, int32_t)
HEARTH_GGUF_SCALAR(u64, uint64_t)
HEARTH_GGUF_SCALAR(i64, int64_t)
HEARTH_GGUF_SCALAR(f32, float)
HEARTH_GGUF_SCALAR(f64, double)
#undef HEARTH_GGUF_SCALAR

gguf_meta_value gguf_meta_value::boolean(bool v) {
  gguf_meta_value m(gguf_value_type::boolean);
  put<uint8_t>(m.payload_, v ? 1 : 0);
  return m;
}

gguf_meta_value gguf_meta_value::string(std::string_view s) {
  gguf_meta_value m(gguf_value_type::string);
  put_string(m.payload_, s);
  return m;
}

gguf_meta_value gguf_meta_value::begin_array(gguf_value_type elem, uint64_t count) {
  gguf_meta_value m(gguf_value_type::array);
  put<uint32_t>(m.payload_, static_cast<uint32_t>(elem));
  put<uint64_t>(m.payload_, count);
  return m;
}

void gguf_meta_value::append_string(std::string_view s) { put_string(payload_, s); }

gguf_meta_value gguf_meta_value::scalar_array(gguf_value_type elem, const void* data, size_t count,
                                              size_t elem_size) {
  gguf_meta_value m = begin_array(elem, count);
  put_bytes(m.payload_, data, count * elem_size);
  return m;
}

gguf_meta_value gguf_meta_value::bool_array(const std::vector<bool>& elems) {
  gguf_meta_value m = begin_array(gguf_value_type::boolean, elems.size());
  for (bool b : elems) put<uint8_t>(m.payload_, b ? 1 : 0);
  return m;
}

gguf_meta_value gguf_meta_value::array_of_arrays(std::span<const gguf_meta_value> elems) {
  gguf_meta_value m = begin_array(gguf_value_type::array, elems.size());
  for (const gguf_meta_value& e : elems) {
    if (e.type_id_ != static_cast<uint32_t>(gguf_value_type::array)) {
      throw std::invalid_argument("gguf array_of_arrays: element of type id " +
                                  std::to_string(e.type_id_) + " is not an array");
    }
    // A nested element is stored without its own type id: the outer array states it.
    put_bytes(m.payload_, e.payload_.data(), e.payload_.size());
    m.well_formed_ = m.well_formed_ && e.well_formed_;
  }
  return m;
}

gguf_meta_value gguf_meta_value::copy_of(const gguf_value& v) {
  switch (v.type) {
    case gguf_value_type::u8: return u8(static_cast<uint8_t>(v.u));
    case gguf_value_type::u16: return u16(static_cast<uint16_t>(v.u));
    case gguf_value_type::u32: return u32(static_cast<uint32_t>(v.u));
    case gguf_value_type::u64: return u64(v.u);
    case gguf_value_type::i8: return i8(static_cast<int8_t>(v.i));
    case gguf_value_type::i16: return i16(static_cast<int16_t>(v.i));
    case gguf_value_type::i32: return i32(static_cast<int32_t>(v.i));
    case gguf_value_type::i64: return i64(v.i);
    case gguf_value_type::f32: return f32(static_cast<float>(v.f));  // exact: it was a float
    case gguf_value_type::f64: return f64(v.f);
    case gguf_value_type::boolean: return boolean(v.u != 0);
    case gguf_value_type::string: return string(v.s);
    case gguf_value_type::array: {
      gguf_meta_value m(gguf_value_type::array);
      encode_array(m.payload_, *v.arr);
      return m;
    }
  }
  throw std::invalid_argument("gguf copy_of: unknown value type " +
                              std::to_string(static_cast<uint32_t>(v.type)));
}

gguf_meta_value gguf_meta_value::raw(uint32_t type_id, std::vector<uint8_t> payload) {
  gguf_meta_value m(gguf_value_type::u8);
  m.type_id_ = type_id;
  m.payload_ = std::move(payload);
  m.well_formed_ = false;
  return m;
}

// ---- gguf_writer ----

void gguf_writer::add_kv(std::string key, gguf_meta_value value) {
  if (!value.well_formed()) {
    throw std::invalid_argument("gguf metadata '" + key +
                                "': raw values only via add_kv_unchecked");
  }
  for (const auto& kv : kv_) {
    if (kv.first == key) throw std::invalid_argument("gguf metadata '" + key + "': duplicate key");
  }
  if (key == alignment_key) {
    uint32_t a = 0;
    if (value.type_id() == static_cast<uint32_t>(gguf_value_type::u32)) {
      std::memcpy(&a, value.payload().data(), sizeof a);
    }
    if (!std::has_single_bit(a)) {
      throw std::invalid_argument(
          "gguf metadata 'general.alignment' must be a uint32 power of two");
    }
  }
  add_kv_unchecked(std::move(key), std::move(value));
}

void gguf_writer::add_kv_unchecked(std::string key, gguf_meta_value value) {
  kv_.emplace_back(std::move(key), std::move(value));
}

uint64_t gguf_writer::tensor_size_checked(const std::string& name, ggml_type type,
                                          const std::vector<int64_t>& ne) const {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("gguf tensor '" + name + "': " + why);
  };
  if (name.size() > max_tensor_name) {
    throw bad("name longer than " + std::to_string(max_tensor_name) + " bytes");
  }
  for (const gguf_tensor_record& t : tensors_) {
    if (t.name == name) throw bad("duplicate name");
  }
  auto info = ggml_type_info(static_cast<uint32_t>(type));
  if (!info) throw bad("unknown type id " + std::to_string(static_cast<uint32_t>(type)));
  if (ne.empty() || ne.size() > 4) throw bad(std::to_string(ne.size()) + " dims (expected 1..4)");
  uint64_t elements = 1;
  for (int64_t n : ne) {
    if (n < 1) throw bad("dim " + std::to_string(n) + " (expected >= 1)");
    if (static_cast<uint64_t>(n) >
        static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / elements) {
      throw bad("element count exceeds 2^63-1");
    }
    elements *= static_cast<uint64_t>(n);
  }
  if (ne[0] % info->block_size != 0) {
    throw bad("row of " + std::to_string(ne[0]) + " is not a multiple of the block size " +
              std::to_string(info->block_size));
  }
  uint64_t blocks = elements / static_cast<uint64_t>(info->block_size);
  if (blocks > std::numeric_limits<uint64_t>::max() / info->type_size) {
    throw bad("byte size exceeds 2^64");
  }
  return blocks * info->type_size;
}

void gguf_writer::add_tensor(std::string name, ggml_type type, std::vector<int64_t> ne,
                             std::vector<uint8_t> data) {
  uint64_t nbytes = tensor_size_checked(name, type, ne);
  if (data.size() != nbytes) {
    throw std::invalid_argument("gguf tensor '" + name + "': " + std::to_string(data.size()) +
                                " bytes of data, its type and shape need " +
                                std::to_string(nbytes));
  }
  // The vector moves into the producer: the writer owns these bytes until it is destroyed.
  auto bytes = std::make_shared<const std::vector<uint8_t>>(std::move(data));
  add_tensor(std::move(name), type, std::move(ne),
             [bytes](const gguf_byte_sink& sink) { sink(bytes->data(), bytes->size()); });
}

void gguf_writer::add_tensor(std::string name, ggml_type type, std::vector<int64_t> ne,
                             gguf_tensor_producer produce) {
  gguf_tensor_record r;
  r.nbytes = tensor_size_checked(name, type, ne);
  r.name = std::move(name);
  r.type_id = static_cast<uint32_t>(type);
  r.dims.assign(ne.begin(), ne.end());
  r.produce = std::move(produce);
  add_tensor_unchecked(std::move(r));
}

void gguf_writer::add_tensor_unchecked(gguf_tensor_record record) {
  tensors_.push_back(std::move(record));
}

uint64_t gguf_writer::alignment() const {
  for (const auto& [key, value] : kv_) {
    if (key != alignment_key || value.type_id() != static_cast<uint32_t>(gguf_value_type::u32) ||
        value.payload().size() != sizeof(uint32_t)) {
      continue;
    }
    uint32_t a;
    std::memcpy(&a, value.payload().data(), sizeof a);
    if (std::has_single_bit(a)) return a;
  }
  return default_alignment;
}

std::vector<uint8_t> gguf_writer::header() const {
  const uint64_t align = alignment();
  std::vector<uint8_t> out;
  put<uint32_t>(out, gguf_magic);
  put<uint32_t>(out, gguf_version);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, kv_.size());
  for (const auto& [key, value] : kv_) {
    put_string(out, key);
    put<uint32_t>(out, value.type_id());
    put_bytes(out, value.payload().data(), value.payload().size());
  }
  uint64_t next = 0;  // where the next tensor's bytes go, relative to the data section
  for (const gguf_tensor_record& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) put<uint64_t>(out, d);
    put<uint32_t>(out, t.type_id);
    put<uint64_t>(out, t.offset.value_or(next));
    next = align_up(next + t.nbytes, align);
  }
  out.resize(align_up(out.size(), align), 0);
  return out;
}

uint64_t gguf_writer::data_size() const {
  const uint64_t align = alignment();
  uint64_t size = 0;
  for (const gguf_tensor_record& t : tensors_) size = align_up(size + t.nbytes, align);
  return size;
}

void gguf_writer::write(const std::filesystem::path& path) const {
  const uint64_t align = alignment();
  file_out out(std::filesystem::path(path.string() + ".tmp"));
  const std::vector<uint8_t> head = header();
  out.put(head.data(), head.size());
  for (const gguf_tensor_record& t : tensors_) {
    uint64_t written = 0;
    gguf_byte_sink sink = [&](const void* data, size_t n) {
      if (n > t.nbytes - written) {
        throw std::logic_error("gguf tensor '" + t.name + "': producer wrote more than its " +
                               std::to_string(t.nbytes) + " bytes");
      }
      out.put(data, n);
      written += n;
    };
    if (t.produce) t.produce(sink);
    if (written != t.nbytes) {
      throw std::logic_error("gguf tensor '" + t.name + "': producer wrote " +
                             std::to_string(written) + " of its " + std::to_string(t.nbytes) +
                             " bytes");
    }
    out.put_zeros(align_up(t.nbytes, align) - t.nbytes);
  }
  out.commit(path);
}

}  // namespace hearth

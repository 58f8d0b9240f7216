// Opening a GGUF file: map it, then parse its sections in order (header, metadata, tensor
// infos, data section), validating every count, length, offset and size as it is read.
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

#include "checked_size.h"

namespace hearth {

static_assert(std::endian::native == std::endian::little, "hearth reads GGUF on little-endian hosts");

namespace {

constexpr uint32_t gguf_magic = 0x46554747;  // "GGUF"
constexpr int max_array_depth = 8;
constexpr size_t max_name_length = 1024;
// The most entries reserved ahead of parsing them. A count is only bounded by the bytes left,
// which in a file of many gigabytes (or a sparse one) still allows reservations larger than
// memory: vectors grow past this as entries actually parse, charged to the budget as they grow.
constexpr uint64_t max_reserve = 1 << 16;
// Caps on the structures parsing builds (see gguf_file.h). The largest real vocabularies hold
// ~260k tokens and as many merges; real files carry no nested arrays at all.
constexpr uint64_t max_array_strings = uint64_t{1} << 24;
constexpr uint64_t max_nested_arrays = uint64_t{1} << 20;
constexpr uint64_t budget_slack = uint64_t{16} << 20;
// Allocator overhead per heap block, and what an index entry (an unordered_map node of a
// string_view and a size_t, plus its bucket) and a nested array (make_shared: the array and its
// control block in one block) cost beyond their vector slot.
constexpr size_t heap_overhead = 16;
constexpr size_t index_entry_bytes = sizeof(std::string_view) + 3 * sizeof(void*) + heap_overhead + sizeof(void*);
constexpr size_t nested_array_bytes = sizeof(gguf_array) + 2 * sizeof(void*) + heap_overhead;

size_t reserve_size(uint64_t count) { return static_cast<size_t>(std::min(count, max_reserve)); }


bool known_value_type(uint32_t t) { return t <= static_cast<uint32_t>(gguf_value_type::f64); }

bool mul_overflows(uint64_t a, uint64_t b, uint64_t limit) { return a != 0 && b > limit / a; }

// Element k of the array named `array`, as error messages name it: "array[k]".
struct element_name {
  const std::string& array;
  uint64_t index;
};
std::string name_of(const std::string& what) { return what; }
std::string name_of(const element_name& e) { return e.array + "[" + std::to_string(e.index) + "]"; }

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
  // `what` is a std::string or an element_name; its text is built only for an error (a vocabulary
  // holds 100,000+ strings, and naming each one cost most of its parse time).
  template <class Name>
  std::string_view read_string(const Name& what) {
    if (left() < sizeof(uint64_t)) need(sizeof(uint64_t), name_of(what) + " length");
    uint64_t len;
    std::memcpy(&len, base_ + pos_, sizeof len);
    pos_ += sizeof len;
    if (len > left()) {
      throw file_.error(name_of(what) + ": string length " + std::to_string(len) + " exceeds the " +
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

// The memory parsing builds, charged as it is built: twice the file's bytes plus budget_slack.
class parse_budget {
 public:
  parse_budget(const gguf_file& f, size_t file_size)
      : file_(f), file_size_(file_size), limit_(checked_size(file_size) * 2 + budget_slack) {}

  void charge(checked_size bytes, const std::string& what) {
    used_ += bytes;
    if (used_ > limit_) {
      throw file_.error(what + ": the parsed metadata would take more than " + format_bytes(limit_) +
                        " (the limit for a file of " + format_bytes(file_size_) + ": twice its size plus " +
                        format_bytes(budget_slack) + ")");
    }
  }
  // Reserves what `count` entries of v need, up to max_reserve of them, and charges it.
  template <class V>
  void reserve(V& v, uint64_t count, const std::string& what) {
    charge(checked_size(reserve_size(count)) * sizeof(typename V::value_type), what);
    v.reserve(reserve_size(count));
  }
  // Makes room for one more element of v, charging a reallocation's new bytes.
  template <class V>
  void make_room(V& v, const std::string& what) {
    if (v.size() < v.capacity()) return;
    const size_t grow = std::max<size_t>(v.capacity(), 16);
    charge(checked_size(grow) * sizeof(typename V::value_type), what);
    v.reserve(v.capacity() + grow);
  }
  // Counts elements against a cap on their total in the file.
  void count(uint64_t& total, uint64_t n, uint64_t cap, const char* kind, const std::string& what) const {
    if (n > cap - total) {
      throw file_.error(what + ": more than " + std::to_string(cap) + " " + kind + " in the file's metadata (" +
                        std::to_string(total) + " before this array of " + std::to_string(n) + ")");
    }
    total += n;
  }
  size_t used() const { return used_.size(); }

 private:
  const gguf_file& file_;
  size_t file_size_;
  checked_size limit_;
  checked_size used_;
};

}  // namespace

size_t gguf_scalar_size(gguf_value_type t) {
  switch (t) {
    case gguf_value_type::u8: case gguf_value_type::i8: case gguf_value_type::boolean: return 1;
    case gguf_value_type::u16: case gguf_value_type::i16: return 2;
    case gguf_value_type::u32: case gguf_value_type::i32: case gguf_value_type::f32: return 4;
    case gguf_value_type::u64: case gguf_value_type::i64: case gguf_value_type::f64: return 8;
    case gguf_value_type::string: case gguf_value_type::array: return 0;
  }
  return 0;
}

// Parses the mapped bytes into the gguf_file, section by section.
struct gguf_file::parser {
  gguf_file& f;
  reader r;
  parse_budget budget;
  uint64_t strings = 0;  // array strings so far (capped at max_array_strings)
  uint64_t nested = 0;   // nested arrays so far (capped at max_nested_arrays)

  explicit parser(gguf_file& file) : f(file), r(file, file.base_, file.size_), budget(file, file.size_) {}

  void run() {
    const auto [n_tensors, n_kv] = header();
    metadata(n_kv);
    alignment();
    tensor_infos(n_tensors);
    data_section(n_tensors);
    f.parsed_bytes_ = budget.used();
  }

  // Magic, version and the two counts, each bounded by the bytes its entries need at least.
  std::pair<uint64_t, uint64_t> header() {
    uint32_t magic = r.read<uint32_t>("magic");
    if (magic != gguf_magic) {
      char got[5] = {};
      std::memcpy(got, &magic, 4);
      for (char& c : got) if (c && (c < 32 || c > 126)) c = '?';
      throw f.error(std::string("not a GGUF file: magic \"") + got + "\" (expected \"GGUF\")");
    }
    f.version_ = r.read<uint32_t>("version");
    if (f.version_ != 2 && f.version_ != 3) {
      throw f.error("unsupported GGUF version " + std::to_string(f.version_) + " (expected 2 or 3)");
    }
    uint64_t n_tensors = r.read<uint64_t>("tensor count");
    uint64_t n_kv = r.read<uint64_t>("metadata count");
    // Smallest possible entries: a key/value is 8 (key length) + 4 (type) + 1 byte; a tensor
    // info is 8 (name length) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset).
    if (n_kv > r.left() / 13) {
      throw f.error("metadata count " + std::to_string(n_kv) + " cannot fit in the " + std::to_string(r.left()) +
                    " bytes left");
    }
    if (n_tensors > r.left() / 32) {
      throw f.error("tensor count " + std::to_string(n_tensors) + " cannot fit in the " +
                    std::to_string(r.left()) + " bytes left");
    }
    return {n_tensors, n_kv};
  }

  void metadata(uint64_t n_kv) {
    budget.reserve(f.kv_, n_kv, "metadata");
    for (uint64_t k = 0; k < n_kv; ++k) {
      std::string what = "metadata entry " + std::to_string(k);
      std::string_view key = r.read_string(what + " key");
      what = "metadata '" + std::string(key.substr(0, max_name_length)) + "'";
      uint32_t t = r.read<uint32_t>(what + " type");
      if (!known_value_type(t)) {
        throw f.error(what + ": unknown value type " + std::to_string(t) + " (expected 0..12)");
      }
      gguf_value v = value(static_cast<gguf_value_type>(t), what, 0);
      budget.make_room(f.kv_, what);
      budget.charge(index_entry_bytes, what);
      if (!f.kv_index_.emplace(key, f.kv_.size()).second) throw f.error("duplicate " + what);
      f.kv_.emplace_back(key, std::move(v));
    }
  }

  gguf_value value(gguf_value_type type, const std::string& what, int depth) {
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
      case gguf_value_type::array: v.arr = array(what, depth); break;
    }
    return v;
  }

  // Element type and count; scalar elements stay in the mapping, strings become views, nested
  // arrays parse recursively.
  std::shared_ptr<gguf_array> array(const std::string& what, int depth) {
    if (depth > max_array_depth) {
      throw f.error(what + ": arrays nested deeper than " + std::to_string(max_array_depth));
    }
    auto arr = std::make_shared<gguf_array>();
    uint32_t et = r.read<uint32_t>(what + " element type");
    if (!known_value_type(et)) {
      throw f.error(what + ": unknown array element type " + std::to_string(et) + " (expected 0..12)");
    }
    arr->elem_type = static_cast<gguf_value_type>(et);
    arr->count = r.read<uint64_t>(what + " element count");
    check_count(*arr, what);
    if (const size_t es = gguf_scalar_size(arr->elem_type)) {
      arr->raw = r.skip(arr->count * es, what + " elements");
      if (arr->elem_type == gguf_value_type::boolean) check_bools(*arr, what);
    } else if (arr->elem_type == gguf_value_type::string) {
      budget.count(strings, arr->count, max_array_strings, "array strings", what);
      budget.reserve(arr->strings, arr->count, what);
      for (uint64_t k = 0; k < arr->count; ++k) {
        budget.make_room(arr->strings, what);
        arr->strings.push_back(r.read_string(element_name{what, k}));
      }
    } else {
      budget.count(nested, arr->count, max_nested_arrays, "nested arrays", what);
      budget.reserve(arr->arrays, arr->count, what);
      for (uint64_t k = 0; k < arr->count; ++k) {
        const std::string elem = what + "[" + std::to_string(k) + "]";
        budget.make_room(arr->arrays, elem);
        budget.charge(nested_array_bytes, elem);
        arr->arrays.push_back(value(gguf_value_type::array, elem, depth + 1));
      }
    }
    return arr;
  }

  // Every element takes at least its scalar size (8 for a string's length, 12 for an array's
  // element type and count), so the count can never exceed the bytes left divided by that.
  void check_count(const gguf_array& a, const std::string& what) const {
    const size_t es = gguf_scalar_size(a.elem_type);
    const size_t min_elem = es ? es : (a.elem_type == gguf_value_type::string ? 8 : 12);
    if (a.count <= r.left() / min_elem) return;
    throw f.error(what + ": array of " + std::to_string(a.count) + " " +
                  std::string(gguf_value_type_name(a.elem_type)) + " elements needs at least " +
                  (a.count > std::numeric_limits<uint64_t>::max() / min_elem ? std::string("more than 2^64")
                                                                              : std::to_string(a.count * min_elem)) +
                  " bytes, only " + std::to_string(r.left()) + " left");
  }

  // A bool array's elements obey the rule of a single bool: 0 or 1.
  void check_bools(const gguf_array& a, const std::string& what) const {
    for (uint64_t k = 0; k < a.count; ++k) {
      if (a.raw[k] > 1) {
        throw f.error(what + "[" + std::to_string(k) + "]: bool value " + std::to_string(a.raw[k]) +
                      " (expected 0 or 1)");
      }
    }
  }

  void alignment() {
    const gguf_value* a = f.find("general.alignment");
    if (!a) return;
    if (a->type != gguf_value_type::u32) {
      throw f.error("metadata 'general.alignment': type " + std::string(gguf_value_type_name(a->type)) +
                    " (expected uint32)");
    }
    if (a->u == 0 || (a->u & (a->u - 1)) != 0) {
      throw f.error("metadata 'general.alignment': " + std::to_string(a->u) + " is not a power of two");
    }
    f.alignment_ = a->u;
  }

  void tensor_infos(uint64_t n_tensors) {
    budget.reserve(f.tensors_, n_tensors, "tensor infos");
    for (uint64_t k = 0; k < n_tensors; ++k) {
      gguf_tensor t = tensor_info(k);
      const std::string what = "tensor '" + std::string(t.name) + "'";
      budget.make_room(f.tensors_, what);
      budget.charge(index_entry_bytes, what);
      if (!f.tensor_index_.emplace(t.name, f.tensors_.size()).second) {
        throw f.error("duplicate tensor name '" + std::string(t.name) + "'");
      }
      f.tensors_.push_back(t);
    }
  }

  // Name, dimensions, type and offset of one tensor; its byte size follows from type and shape.
  gguf_tensor tensor_info(uint64_t k) {
    std::string what = "tensor info " + std::to_string(k);
    gguf_tensor t;
    t.name = r.read_string(what + " name");
    if (t.name.size() > max_name_length) {
      throw f.error(what + ": name of " + std::to_string(t.name.size()) + " bytes (at most " +
                    std::to_string(max_name_length) + ")");
    }
    what = "tensor '" + std::string(t.name) + "'";
    t.n_dims = r.read<uint32_t>(what + " n_dims");
    if (t.n_dims < 1 || t.n_dims > 4) {
      throw f.error(what + ": n_dims " + std::to_string(t.n_dims) + " (expected 1..4)");
    }
    uint64_t elements = 1;
    for (uint32_t d = 0; d < t.n_dims; ++d) {
      uint64_t ne = r.read<uint64_t>(what + " dim " + std::to_string(d));
      if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw f.error(what + ": dim " + std::to_string(d) + " is " + std::to_string(ne) + " (expected 1..2^63-1)");
      }
      if (mul_overflows(elements, ne, std::numeric_limits<int64_t>::max())) {
        throw f.error(what + ": element count overflows 64 bits at dim " + std::to_string(d));
      }
      elements *= ne;
      t.ne[d] = static_cast<int64_t>(ne);
    }
    uint32_t type_id = r.read<uint32_t>(what + " type");
    auto info = ggml_type_info(type_id);
    if (!info) throw f.error(what + ": unknown tensor type id " + std::to_string(type_id));
    t.type = static_cast<ggml_type>(type_id);
    if (t.ne[0] % info->block_size != 0) {
      throw f.error(what + ": row of " + std::to_string(t.ne[0]) + " elements is not a multiple of " +
                    std::string(info->name) + "'s block size " + std::to_string(info->block_size));
    }
    const checked_size nbytes = checked_size(elements / info->block_size) * info->type_size;
    if (nbytes.overflowed()) throw f.error(what + ": byte size overflows 64 bits");
    t.nbytes = nbytes.size();
    t.offset = r.read<uint64_t>(what + " offset");
    if (t.offset % f.alignment_ != 0) {
      throw f.error(what + ": offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                    std::to_string(f.alignment_));
    }
    return t;
  }

  // The data section starts at the next multiple of the alignment; every tensor lies inside it.
  void data_section(uint64_t n_tensors) {
    const size_t header_end = r.pos(), size = f.size_;
    const size_t pad = (f.alignment_ - header_end % f.alignment_) % f.alignment_;
    if (n_tensors > 0 && pad > size - header_end) {
      throw f.error("truncated before the data section: it starts at " + std::to_string(header_end + pad) +
                    ", file has " + std::to_string(size));
    }
    f.data_offset_ = n_tensors > 0 ? header_end + pad : std::min(header_end + pad, size);
    const size_t data_size = size - f.data_offset_;
    for (gguf_tensor& t : f.tensors_) {
      if (t.offset > data_size || t.nbytes > data_size - t.offset) {
        throw f.error("tensor '" + std::string(t.name) + "': offset " + std::to_string(t.offset) + " + size " +
                      std::to_string(t.nbytes) + " exceeds the data section of " + std::to_string(data_size) +
                      " bytes (expected offset + size <= " + std::to_string(data_size) + ")");
      }
      t.data = f.base_ + f.data_offset_ + t.offset;
    }
  }
};

load_error gguf_file::error(const std::string& what) const { return load_error(path_ + ": " + what); }

gguf_file gguf_file::open(const std::filesystem::path& path) {
  gguf_file f;
  f.path_ = path.string();
  f.fd_ = ::open(f.path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd_ < 0) throw f.error(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd_, &st) != 0 || !S_ISREG(st.st_mode)) throw f.error("not a regular file");
  f.size_ = static_cast<size_t>(st.st_size);
  f.mtime_ns_ = stat_mtime_ns(st);
  if (f.size_ < 24) {
    throw f.error("file is " + std::to_string(f.size_) + " bytes, shorter than a GGUF header (24 bytes)");
  }
  void* m = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, f.fd_, 0);
  if (m == MAP_FAILED) throw f.error(std::string("mmap failed: ") + std::strerror(errno));
  f.base_ = static_cast<const uint8_t*>(m);
  f.guard_ = mapping_guard(f.base_, f.size_);
  parser(f).run();  // on throw, ~gguf_file unmaps and closes
  return f;
}

void gguf_file::release_pages(const uint8_t* data, size_t n) const {
  static const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
  const auto end = (reinterpret_cast<uintptr_t>(data) + n) & ~(page - 1);
  const auto base = reinterpret_cast<uintptr_t>(base_);
  if (begin >= end || begin < base || end > base + size_) return;
  // A private read-only file mapping never written: dropping its pages loses nothing.
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

std::optional<std::string> gguf_file::change_on_disk() const {
  return mapped_file_change(guard_, fd_, size_, mtime_ns_);
}

gguf_file::gguf_file(gguf_file&& o) noexcept { *this = std::move(o); }

gguf_file& gguf_file::operator=(gguf_file&& o) noexcept {
  if (this != &o) {
    close();
    path_ = std::move(o.path_);
    fd_ = std::exchange(o.fd_, -1);
    mtime_ns_ = o.mtime_ns_;
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    guard_ = std::move(o.guard_);
    parsed_bytes_ = o.parsed_bytes_;
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

gguf_file::~gguf_file() { close(); }

// The guard goes first: no fault may be attributed to an address range after it is unmapped.
void gguf_file::close() {
  guard_ = mapping_guard();
  if (base_) ::munmap(const_cast<uint8_t*>(base_), size_);
  base_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace hearth

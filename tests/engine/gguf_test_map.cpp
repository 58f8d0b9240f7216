#include "engine/gguf_test_map.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <stdexcept>

namespace hearth::test {

namespace {

// Fixed sizes from the GGUF spec, indexed by value type id (string and array: none).
constexpr size_t scalar_sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
constexpr uint32_t type_string = 8;
constexpr uint32_t type_array = 9;

class walker {
 public:
  walker(const std::vector<uint8_t>& bytes, gguf_map& map) : bytes_(bytes), map_(map) {}

  size_t pos() const { return pos_; }

  template <class T>
  T take(const std::string& subject) {
    T v;
    fetch(&v, sizeof v, subject);
    return v;
  }
  std::string take_string(const std::string& subject) {
    uint64_t len = take<uint64_t>(subject);
    std::string s(len, '\0');
    fetch(s.data(), len, subject);
    return s;
  }
  void bound(uint64_t need, const std::string& subject) {
    map_.spans.push_back({pos_, pos_ + need, subject});
  }

  // A value of type `type`; `name` is how the reader names it ("metadata 'k'", "...[3]").
  void value(uint32_t type, const std::string& name) {
    if (type < std::size(scalar_sizes) && scalar_sizes[type]) {
      skip(scalar_sizes[type], name);
    } else if (type == type_string) {
      take_string(name);
    } else if (type == type_array) {
      array(name);
    } else {
      throw std::runtime_error("map_gguf: unknown value type in " + name);
    }
  }

 private:
  void array(const std::string& name) {
    uint32_t et = take<uint32_t>(name + " element type");
    uint64_t count = take<uint64_t>(name + " element count");
    if (et < std::size(scalar_sizes) && scalar_sizes[et]) {
      skip(count * scalar_sizes[et], name);  // checked up front as one block
      return;
    }
    // The reader first checks that the count fits at the minimal element size (a string's
    // length, or a nested array's type and count), then reads element by element.
    bound(count * (et == type_string ? 8 : 12), name);
    for (uint64_t k = 0; k < count; ++k) value(et, name + "[" + std::to_string(k) + "]");
  }
  void skip(uint64_t n, const std::string& subject) { fetch(nullptr, n, subject); }
  void fetch(void* out, uint64_t n, const std::string& subject) {
    if (n > bytes_.size() - pos_) throw std::runtime_error("map_gguf: file ends inside " + subject);
    if (out && n) std::memcpy(out, bytes_.data() + pos_, n);
    map_.spans.push_back({pos_, pos_ + n, subject});
    pos_ += n;
  }

  const std::vector<uint8_t>& bytes_;
  gguf_map& map_;
  size_t pos_ = 0;
};

struct tensor_extent {
  std::string name;
  uint64_t offset = 0;
  uint64_t nbytes = 0;
};

uint64_t tensor_bytes(uint32_t type, const std::vector<uint64_t>& ne) {
  // Block geometry (elements, bytes) of the types the fixtures use, from ggml's type table.
  struct geometry {
    uint32_t id;
    uint64_t block, size;
  };
  static constexpr geometry known[] = {{0, 1, 4}, {1, 1, 2}, {2, 32, 18}, {8, 32, 34}};
  for (const geometry& g : known) {
    if (g.id != type) continue;
    uint64_t n = 1;
    for (uint64_t d : ne) n *= d;
    return n / g.block * g.size;
  }
  throw std::runtime_error("map_gguf: tensor type " + std::to_string(type) + " not mapped");
}

}  // namespace

gguf_map map_gguf(const std::vector<uint8_t>& bytes) {
  gguf_map m;
  walker w(bytes, m);
  const std::string header = "shorter than a GGUF header";
  w.take<uint32_t>(header);
  w.take<uint32_t>(header);
  uint64_t n_tensors = w.take<uint64_t>(header);
  uint64_t n_kv = w.take<uint64_t>(header);
  w.bound(13 * n_kv, "metadata count");     // key length + type + one byte
  w.bound(32 * n_tensors, "tensor count");  // name length + n_dims + one dim + type + offset
  uint64_t alignment = 32;
  for (uint64_t k = 0; k < n_kv; ++k) {
    size_t begin = w.pos();
    std::string key = w.take_string("metadata entry " + std::to_string(k) + " key");
    std::string name = "metadata '" + key + "'";
    uint32_t type = w.take<uint32_t>(name + " type");
    if (key == "general.alignment") {
      alignment = w.take<uint32_t>(name);
    } else {
      w.value(type, name);
    }
    m.kvs.push_back({begin, w.pos(), key});
  }
  std::vector<tensor_extent> extents;
  for (uint64_t k = 0; k < n_tensors; ++k) {
    size_t begin = w.pos();
    std::string tname = w.take_string("tensor info " + std::to_string(k) + " name");
    std::string subject = "tensor '" + tname + "'";
    uint32_t n_dims = w.take<uint32_t>(subject);
    std::vector<uint64_t> ne;
    for (uint32_t d = 0; d < n_dims; ++d) ne.push_back(w.take<uint64_t>(subject));
    uint32_t type = w.take<uint32_t>(subject);
    uint64_t offset = w.take<uint64_t>(subject);
    extents.push_back({tname, offset, tensor_bytes(type, ne)});
    m.tensor_infos.push_back({begin, w.pos(), tname});
  }
  m.header_end = w.pos();
  m.data_offset = (m.header_end + alignment - 1) / alignment * alignment;
  if (n_tensors > 0) {
    m.spans.push_back({m.header_end, m.data_offset, "truncated before the data section"});
  }
  // The reader checks tensors in info order, each against the whole data section.
  for (const tensor_extent& t : extents) {
    size_t end = m.data_offset + t.offset + t.nbytes;
    if (end > bytes.size()) {
      throw std::runtime_error("map_gguf: tensor '" + t.name + "' past the end");
    }
    m.spans.push_back({m.data_offset, end, "tensor '" + t.name + "'"});
    m.tensor_data.push_back({m.data_offset + t.offset, end, t.name});
    m.data_end = std::max(m.data_end, end);
  }
  return m;
}

std::optional<std::string> truncation_subject(const gguf_map& m, size_t len) {
  for (const gguf_span& s : m.spans) {
    if (len < s.end) return s.subject;
  }
  return std::nullopt;
}

}  // namespace hearth::test

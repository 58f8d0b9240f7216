#include "engine/gguf_test_util.h"

#include <catch2/catch.hpp>
#include <stdlib.h>

#include <fstream>
#include <stdexcept>

namespace hearth::test {

std::filesystem::path shared_model(const std::string& name) {
  return std::filesystem::path(HEARTH_SHARED_DIR) / "models" / name;
}

std::vector<uint8_t> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) throw std::runtime_error("cannot write " + p.string());
}

std::string open_error(const std::filesystem::path& p) {
  try {
    gguf_file::open(p);
  } catch (const load_error& e) {
    return e.what();
  }
  FAIL("gguf_file::open(" << p.string() << ") succeeded; expected a load_error");
  return {};
}

void check_message(const std::string& msg, const std::filesystem::path& p,
                   const std::vector<std::string>& parts) {
  INFO("message: " << msg);
  CHECK(msg.rfind(p.string() + ": ", 0) == 0);
  for (const std::string& part : parts) {
    INFO("expected part: " << part);
    CHECK(msg.find(part) != std::string::npos);
  }
}

std::vector<uint8_t> le64(uint64_t v) {
  std::vector<uint8_t> b(8);
  std::memcpy(b.data(), &v, 8);
  return b;
}

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

gguf_tensor_record record(std::string name, uint32_t type_id, std::vector<uint64_t> dims,
                          uint64_t nbytes, std::optional<uint64_t> offset) {
  gguf_tensor_record r;
  r.name = std::move(name);
  r.type_id = type_id;
  r.dims = std::move(dims);
  r.nbytes = nbytes;
  r.offset = offset;
  r.produce = [nbytes](const gguf_byte_sink& sink) {
    std::vector<uint8_t> b(nbytes, 0x5a);
    sink(b.data(), b.size());
  };
  return r;
}

void expect_error(const gguf_writer& w, const std::vector<std::string>& parts) {
  temp_dir dir;
  const std::filesystem::path p = dir.file("bad.gguf");
  w.write(p);
  check_message(open_error(p), p, parts);
}

void expect_patched_error(const std::function<void(std::vector<uint8_t>&)>& edit,
                          const std::vector<std::string>& parts) {
  temp_dir dir;
  const std::filesystem::path p = dir.file("bad.gguf");
  std::vector<uint8_t> bytes = read_bytes(shared_model("stories260K-q8_0.gguf"));
  edit(bytes);
  write_bytes(p, bytes);
  check_message(open_error(p), p, parts);
}

namespace {

// A plain byte sum: it must read every byte, and it vectorizes (mutated files can map the same
// bytes into many tensors, so this runs over tens of megabytes per open).
uint64_t mix(uint64_t h, const uint8_t* p, size_t n) {
  for (size_t k = 0; k < n; ++k) h += p[k];
  return h;
}

uint64_t touch_array(uint64_t h, const gguf_array& a) {
  static constexpr size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  size_t es = sizes[static_cast<uint32_t>(a.elem_type)];
  if (es) h = mix(h, a.raw, a.count * es);
  for (std::string_view s : a.strings)
    h = mix(h, reinterpret_cast<const uint8_t*>(s.data()), s.size());
  for (const gguf_value& v : a.arrays) h = touch_array(h, *v.arr);
  return h;
}

// Whether [p, p + n) lies inside [base, base + size), by address arithmetic.
bool inside(const void* p, uint64_t n, uintptr_t base, uint64_t size) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  return a >= base && a - base <= size && n <= size - (a - base);
}

std::string check_array_views(const gguf_array& a, uintptr_t base, uint64_t size,
                              const std::string& key) {
  static constexpr size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  size_t es = sizes[static_cast<uint32_t>(a.elem_type)];
  if (es && a.count && !inside(a.raw, a.count * es, base, size)) {
    return "array '" + key + "' outside the file";
  }
  for (std::string_view s : a.strings) {
    if (!inside(s.data(), s.size(), base, size)) return "string in '" + key + "' outside the file";
  }
  for (const gguf_value& v : a.arrays) {
    std::string why = check_array_views(*v.arr, base, size, key);
    if (!why.empty()) return why;
  }
  return "";
}

}  // namespace

std::string check_views(const gguf_file& f, const std::vector<uint8_t>& file) {
  const uint64_t size = file.size();
  if (f.file_size() != size) {
    return "file_size " + std::to_string(f.file_size()) + " != " + std::to_string(size);
  }
  if (f.data_offset() > size) return "data_offset past the end";
  for (const gguf_tensor& t : f.tensors()) {
    const uint64_t room = size - f.data_offset();
    if (t.offset > room || t.nbytes > room - t.offset) {
      return "tensor '" + std::string(t.name) + "' past the end";
    }
    if (std::memcmp(t.data, file.data() + f.data_offset() + t.offset, t.nbytes) != 0) {
      return "tensor '" + std::string(t.name) + "' does not view its own bytes";
    }
  }
  if (f.tensors().empty()) return "";  // no anchor to locate the mapping by
  const gguf_tensor& t0 = f.tensors().front();
  const uintptr_t base = reinterpret_cast<uintptr_t>(t0.data) - f.data_offset() - t0.offset;
  for (const auto& [key, v] : f.metadata()) {
    if (!inside(key.data(), key.size(), base, size)) return "a key outside the file";
    const std::string k(key);
    if (!inside(v.s.data(), v.s.size(), base, size) && !v.s.empty()) {
      return "string '" + k + "' outside the file";
    }
    if (v.arr) {
      std::string why = check_array_views(*v.arr, base, size, k);
      if (!why.empty()) return why;
    }
  }
  return "";
}

uint64_t touch_everything(const gguf_file& f) {
  uint64_t h = 0;
  for (const auto& [key, v] : f.metadata()) {
    h = mix(h, reinterpret_cast<const uint8_t*>(key.data()), key.size());
    h = mix(h, reinterpret_cast<const uint8_t*>(v.s.data()), v.s.size());
    if (v.arr) h = touch_array(h, *v.arr);
  }
  for (const gguf_tensor& t : f.tensors()) h = mix(h, t.data, t.nbytes);
  return h;
}

}  // namespace hearth::test

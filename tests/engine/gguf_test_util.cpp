#include "engine/gguf_test_util.h"

#include <catch2/catch.hpp>
#include <stdlib.h>

#include <fstream>
#include <stdexcept>

namespace hearth::test {

std::filesystem::path shared_model(const std::string& name) {
  return std::filesystem::path(HEARTH_SHARED_DIR) / "models" / name;
}

temp_dir::temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "hearth-gguf-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<uint8_t> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
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

namespace {

uint64_t mix(uint64_t h, const uint8_t* p, size_t n) {
  for (size_t k = 0; k < n; ++k) h = (h ^ p[k]) * 0x100000001b3ULL;  // FNV-1a
  return h;
}

uint64_t touch_array(uint64_t h, const gguf_array& a) {
  static constexpr size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  size_t es = sizes[static_cast<uint32_t>(a.elem_type)];
  if (es) h = mix(h, a.raw, a.count * es);
  for (std::string_view s : a.strings) h = mix(h, reinterpret_cast<const uint8_t*>(s.data()), s.size());
  for (const gguf_value& v : a.arrays) h = touch_array(h, *v.arr);
  return h;
}

}  // namespace

uint64_t touch_everything(const gguf_file& f) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const auto& [key, v] : f.metadata()) {
    h = mix(h, reinterpret_cast<const uint8_t*>(key.data()), key.size());
    h = mix(h, reinterpret_cast<const uint8_t*>(v.s.data()), v.s.size());
    if (v.arr) h = touch_array(h, *v.arr);
  }
  for (const gguf_tensor& t : f.tensors()) h = mix(h, t.data, t.nbytes);
  return h;
}

}  // namespace hearth::test

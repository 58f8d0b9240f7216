// Re-writing real llama.cpp-produced models with gguf_writer: the reader must see the same
// metadata and tensor bytes, and since the writer follows ggml's layout, the files must come out
// byte-identical to the originals.
#include <catch2/catch.hpp>

#include "engine/gguf_test_util.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

using namespace hearth;
using namespace hearth::test;

namespace {

bool same_array(const gguf_array& a, const gguf_array& b);

bool same_value(const gguf_value& a, const gguf_value& b) {
  if (a.type != b.type || a.u != b.u || a.i != b.i || a.s != b.s) return false;
  if (std::memcmp(&a.f, &b.f, sizeof a.f) != 0) return false;  // bitwise: NaNs compare equal
  if (!a.arr != !b.arr) return false;
  return !a.arr || same_array(*a.arr, *b.arr);
}

bool same_array(const gguf_array& a, const gguf_array& b) {
  if (a.elem_type != b.elem_type || a.count != b.count || a.strings != b.strings) return false;
  if (a.arrays.size() != b.arrays.size()) return false;
  for (size_t k = 0; k < a.arrays.size(); ++k) {
    if (!same_value(a.arrays[k], b.arrays[k])) return false;
  }
  if (!a.raw != !b.raw) return false;
  static constexpr size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  size_t n = a.count * sizes[static_cast<uint32_t>(a.elem_type)];
  return !a.raw || std::memcmp(a.raw, b.raw, n) == 0;
}

// Copies every key and tensor of `src` into a writer. Tensor bytes are streamed from the source
// mapping in 1000-byte pieces, as the synth command will stream generated weights.
gguf_writer copy_of_file(const gguf_file& src) {
  gguf_writer w;
  for (const auto& [key, v] : src.metadata())
    w.add_kv(std::string(key), gguf_meta_value::copy_of(v));
  for (const gguf_tensor& t : src.tensors()) {
    std::vector<int64_t> ne(t.ne, t.ne + t.n_dims);
    w.add_tensor(std::string(t.name), t.type, ne, [&t](const gguf_byte_sink& sink) {
      for (size_t at = 0; at < t.nbytes; at += 1000)
        sink(t.data + at, std::min<size_t>(1000, t.nbytes - at));
    });
  }
  return w;
}

}  // namespace

TEST_CASE("gguf writer: re-written stories260K reads back identical", "[gguf]") {
  auto name = GENERATE(as<std::string>{}, "stories260K-f32.gguf", "stories260K-q8_0.gguf",
                       "stories260K-q4_0.gguf");
  INFO(name);
  temp_dir dir;
  const auto src_path = shared_model(name);
  gguf_file src = gguf_file::open(src_path);
  REQUIRE(src.tensors().size() == 47);
  copy_of_file(src).write(dir.file("copy.gguf"));
  gguf_file copy = gguf_file::open(dir.file("copy.gguf"));

  CHECK(copy.version() == 3);
  CHECK(copy.alignment() == src.alignment());
  REQUIRE(copy.metadata().size() == src.metadata().size());
  for (size_t k = 0; k < src.metadata().size(); ++k) {
    INFO("metadata " << k << " '" << src.metadata()[k].first << "'");
    CHECK(copy.metadata()[k].first == src.metadata()[k].first);
    CHECK(same_value(copy.metadata()[k].second, src.metadata()[k].second));
  }
  CHECK(copy.get_string_array("tokenizer.ggml.tokens").size() == 512);

  REQUIRE(copy.tensors().size() == src.tensors().size());
  for (size_t k = 0; k < src.tensors().size(); ++k) {
    const gguf_tensor& a = src.tensors()[k];
    const gguf_tensor& b = copy.tensors()[k];
    INFO("tensor " << a.name);
    CHECK(b.name == a.name);
    CHECK(b.type == a.type);
    CHECK(b.shape_string() == a.shape_string());
    CHECK(b.offset == a.offset);
    REQUIRE(b.nbytes == a.nbytes);
    CHECK(std::memcmp(a.data, b.data, a.nbytes) == 0);
  }
  // ggml's layout, reproduced: the whole file is the same bytes.
  CHECK(read_bytes(dir.file("copy.gguf")) == read_bytes(src_path));
}

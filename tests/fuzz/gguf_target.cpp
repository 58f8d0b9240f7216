// The GGUF parser (engine/gguf/gguf_file): after open() succeeds, every metadata value reads
// through its typed getter and every tensor's bytes lie inside the file, as its header promises.
#include "fuzz_target.h"
#include "gguf/gguf_file.h"
#include "memory_file.h"

namespace hearth::fuzz {

namespace {

// Reads the value through every getter that accepts its type; the others must refuse with
// load_error, never with anything else.
void read_value(const gguf_file& f, std::string_view key, const gguf_value& v) {
  auto refused = [&](auto&& get) {
    try {
      get();
    } catch (const load_error&) {
    }
  };
  refused([&] { f.get_int(key); });
  refused([&] { f.get_float(key); });
  refused([&] { f.get_bool(key); });
  refused([&] { f.get_string(key); });
  refused([&] { f.get_string_array(key); });
  refused([&] { f.get_f32_array(key); });
  refused([&] { f.get_i32_array(key); });
  if (v.type == gguf_value_type::array) {
    const gguf_array* a = f.get_array(key);
    expect(a != nullptr, "get_array refuses array '" + std::string(key) + "'");
    if (a->elem_type == gguf_value_type::string) {
      expect(a->strings.size() == a->count, "string array size differs from its count");
    } else if (a->elem_type == gguf_value_type::array) {
      expect(a->arrays.size() == a->count, "nested array size differs from its count");
    } else if (a->count > 0) {
      expect(a->raw != nullptr, "scalar array without elements");
    }
  }
  expect(f.find(key) != nullptr, "find() misses key '" + std::string(key) + "'");
}

void check_tensor(const gguf_file& f, const gguf_tensor& t) {
  expect(f.find_tensor(t.name) != nullptr, "find_tensor() misses '" + std::string(t.name) + "'");
  expect(t.n_dims >= 1 && t.n_dims <= 4, "tensor with " + std::to_string(t.n_dims) + " dims");
  for (int d = 0; d < 4; ++d) expect(t.ne[d] >= 1, "tensor dimension < 1");
  const uint64_t begin = f.data_offset() + t.offset;
  expect(begin >= f.data_offset() && t.nbytes <= f.file_size() && begin <= f.file_size() - t.nbytes,
         "tensor '" + std::string(t.name) + "' bytes outside the file");
  expect(t.offset % f.alignment() == 0, "tensor offset not aligned");
  uint64_t rows = 0;
  expect(!__builtin_mul_overflow(static_cast<uint64_t>(t.ne[1]), static_cast<uint64_t>(t.ne[2]), &rows) &&
             !__builtin_mul_overflow(rows, static_cast<uint64_t>(t.ne[3]), &rows),
         "tensor '" + std::string(t.name) + "': row count overflows");
  expect(t.nbytes == ggml_row_size(t.type, t.ne[0]) * rows, "tensor size differs from its type and shape");
  if (t.nbytes > 0) {
    // Inside the mapping: a read past its end faults, which the fuzzer reports.
    volatile uint8_t first = t.data[0], last = t.data[t.nbytes - 1];
    (void)first;
    (void)last;
  }
}

}  // namespace

void gguf_input(fuzz_input input) {
  memory_file mf(input);
  std::optional<gguf_file> f;
  try {
    f.emplace(gguf_file::open(mf.path()));
  } catch (const load_error&) {
    return;
  }
  expect(f->file_size() == input.size(), "file size differs from the bytes written");
  expect(f->data_offset() <= f->file_size(), "data section starts past the end");
  for (const auto& [key, value] : f->metadata()) read_value(*f, key, value);
  for (const gguf_tensor& t : f->tensors()) check_tensor(*f, t);
}

}  // namespace hearth::fuzz

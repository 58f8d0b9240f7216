// The GGUF writer: exact on-disk bytes, round trips of every value type through gguf_file,
// alignment, streaming producers, the checked API's refusals, and the tmp-then-rename contract.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <system_error>

#include "engine/gguf_test_util.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

using namespace hearth;
using namespace hearth::test;
namespace fs = std::filesystem;
using mv = gguf_meta_value;

namespace {

template <class T>
std::vector<T> elems(const gguf_array& a) {
  REQUIRE(a.elem_type == gguf_scalar_type_of<T>());
  std::vector<T> out(a.count);
  if (a.count) std::memcpy(out.data(), a.raw, a.count * sizeof(T));
  return out;
}

const gguf_value& value(const gguf_file& f, std::string_view key) {
  const gguf_value* v = f.find(key);
  INFO("key " << key);
  REQUIRE(v);
  return *v;
}

const gguf_array& array(const gguf_file& f, std::string_view key, gguf_value_type elem) {
  const gguf_value& v = value(f, key);
  REQUIRE(v.type == gguf_value_type::array);
  REQUIRE(v.arr);
  CHECK(v.arr->elem_type == elem);
  return *v.arr;
}

// Q8_0 blocks: a half-precision scale then 32 int8 quants; any bytes are a valid encoding.
std::vector<uint8_t> q8_0_blocks(size_t n_blocks) {
  std::vector<uint8_t> b(n_blocks * 34);
  for (size_t k = 0; k < b.size(); ++k) b[k] = static_cast<uint8_t>(k * 37 + 11);
  return b;
}

}  // namespace

TEST_CASE("gguf writer: exact bytes of a minimal file", "[gguf]") {
  temp_dir dir;
  gguf_writer w;
  w.add_kv("a", mv::u32(7));
  w.add_tensor("t", ggml_type::f32, {2}, bytes_of(std::vector<float>{1.0f, 2.0f}));
  w.write(dir.file("m.gguf"));

  // Written out by hand from the GGUF v3 spec.
  // clang-format off
  const uint8_t head[] = {
      'G', 'G', 'U', 'F', 3, 0, 0, 0,   // magic, version
      1, 0, 0, 0, 0, 0, 0, 0,           // tensor count
      1, 0, 0, 0, 0, 0, 0, 0,           // metadata count
      1, 0, 0, 0, 0, 0, 0, 0, 'a',      // key
      4, 0, 0, 0, 7, 0, 0, 0,           // uint32 7
      1, 0, 0, 0, 0, 0, 0, 0, 't',      // tensor name
      1, 0, 0, 0,                       // n_dims
      2, 0, 0, 0, 0, 0, 0, 0,           // ne[0]
      0, 0, 0, 0,                       // F32
      0, 0, 0, 0, 0, 0, 0, 0,           // offset
  };
  // clang-format on
  const uint8_t data[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40};  // 1.0f, 2.0f
  std::vector<uint8_t> expected(128, 0);  // header padded to 96, the tensor to 128
  std::memcpy(expected.data(), head, sizeof head);
  std::memcpy(expected.data() + 96, data, sizeof data);
  CHECK(read_bytes(dir.file("m.gguf")) == expected);
  CHECK(w.file_size() == 128);
  CHECK(w.header().size() == 96);
  CHECK_FALSE(fs::exists(dir.file("m.gguf.tmp")));
}

TEST_CASE("gguf writer: every scalar type and strings round-trip through gguf_file", "[gguf]") {
  temp_dir dir;
  gguf_writer w;
  w.add_kv("u8", mv::u8(200));
  w.add_kv("i8", mv::i8(-100));
  w.add_kv("u16", mv::u16(60000));
  w.add_kv("i16", mv::i16(-30000));
  w.add_kv("u32", mv::u32(4000000000u));
  w.add_kv("i32", mv::i32(-2000000000));
  w.add_kv("u64", mv::u64(std::numeric_limits<uint64_t>::max()));
  w.add_kv("i64", mv::i64(std::numeric_limits<int64_t>::min()));
  w.add_kv("f32", mv::f32(-1.25e-3f));
  w.add_kv("f64", mv::f64(1e300));
  w.add_kv("true", mv::boolean(true));
  w.add_kv("false", mv::boolean(false));
  w.add_kv("str", mv::string("h\xc3\xa9llo"));
  w.add_kv("empty_str", mv::string(""));
  w.add_kv("nul_str", mv::string(std::string_view("a\0b", 3)));
  w.write(dir.file("kv.gguf"));

  gguf_file f = gguf_file::open(dir.file("kv.gguf"));
  REQUIRE(f.metadata().size() == 15);
  CHECK(f.metadata()[0].first == "u8");
  CHECK(f.metadata()[14].first == "nul_str");
  CHECK(f.tensors().empty());
  const std::pair<const char*, gguf_value_type> types[] = {
      {"u8", gguf_value_type::u8},        {"i8", gguf_value_type::i8},
      {"u16", gguf_value_type::u16},      {"i16", gguf_value_type::i16},
      {"u32", gguf_value_type::u32},      {"i32", gguf_value_type::i32},
      {"u64", gguf_value_type::u64},      {"i64", gguf_value_type::i64},
      {"f32", gguf_value_type::f32},      {"f64", gguf_value_type::f64},
      {"true", gguf_value_type::boolean}, {"str", gguf_value_type::string}};
  for (const auto& [key, type] : types) {
    INFO(key);
    CHECK(value(f, key).type == type);
  }
  CHECK(f.get_int("u8") == 200);
  CHECK(f.get_int("i8") == -100);
  CHECK(f.get_int("u16") == 60000);
  CHECK(f.get_int("i16") == -30000);
  CHECK(f.get_int("u32") == 4000000000LL);
  CHECK(f.get_int("i32") == -2000000000);
  CHECK(value(f, "u64").u == std::numeric_limits<uint64_t>::max());
  CHECK(f.get_int("i64") == std::numeric_limits<int64_t>::min());
  CHECK(f.get_float("f32") == static_cast<double>(-1.25e-3f));
  CHECK(f.get_float("f64") == 1e300);
  CHECK(f.get_bool("true") == true);
  CHECK(f.get_bool("false") == false);
  CHECK(f.get_string("str") == "h\xc3\xa9llo");
  CHECK(f.get_string("empty_str") == "");
  CHECK(f.get_string("nul_str") == std::string_view("a\0b", 3));
}

TEST_CASE("gguf writer: arrays of every scalar type and of strings round-trip", "[gguf]") {
  temp_dir dir;
  gguf_writer w;
  w.add_kv("a_u8", mv::array(std::vector<uint8_t>{0, 1, 255}));
  w.add_kv("a_i8", mv::array(std::vector<int8_t>{-128, 0, 127}));
  w.add_kv("a_u16", mv::array(std::vector<uint16_t>{0, 65535}));
  w.add_kv("a_i16", mv::array(std::vector<int16_t>{-32768, 32767}));
  w.add_kv("a_u32", mv::array(std::vector<uint32_t>{1, 4294967295u}));
  w.add_kv("a_i32", mv::array(std::vector<int32_t>{-7, 2147483647}));
  w.add_kv("a_u64", mv::array(std::vector<uint64_t>{1ULL << 63}));
  w.add_kv("a_i64", mv::array(std::vector<int64_t>{-1, std::numeric_limits<int64_t>::max()}));
  w.add_kv("a_f32", mv::array(std::vector<float>{0.5f, -2.0f, 3.25f}));
  w.add_kv("a_f64", mv::array(std::vector<double>{1e-300, -0.0}));
  w.add_kv("a_bool", mv::bool_array({true, false, true}));
  w.add_kv("a_str", mv::string_array(std::vector<std::string>{"x", "", "yz"}));
  w.add_kv("a_empty_f32", mv::array(std::vector<float>{}));
  w.add_kv("a_empty_i32", mv::array(std::vector<int32_t>{}));
  w.write(dir.file("kv.gguf"));

  gguf_file f = gguf_file::open(dir.file("kv.gguf"));
  REQUIRE(f.metadata().size() == 14);
  CHECK(elems<uint8_t>(array(f, "a_u8", gguf_value_type::u8)) == std::vector<uint8_t>{0, 1, 255});
  CHECK(elems<int8_t>(array(f, "a_i8", gguf_value_type::i8)) == std::vector<int8_t>{-128, 0, 127});
  CHECK(elems<uint16_t>(array(f, "a_u16", gguf_value_type::u16)) ==
        std::vector<uint16_t>{0, 65535});
  CHECK(elems<int16_t>(array(f, "a_i16", gguf_value_type::i16)) ==
        std::vector<int16_t>{-32768, 32767});
  CHECK(elems<uint32_t>(array(f, "a_u32", gguf_value_type::u32)) ==
        std::vector<uint32_t>{1, 4294967295u});
  CHECK(f.get_i32_array("a_i32") == std::vector<int32_t>{-7, 2147483647});
  CHECK(elems<uint64_t>(array(f, "a_u64", gguf_value_type::u64)) ==
        std::vector<uint64_t>{1ULL << 63});
  CHECK(elems<int64_t>(array(f, "a_i64", gguf_value_type::i64)) ==
        std::vector<int64_t>{-1, std::numeric_limits<int64_t>::max()});
  CHECK(f.get_f32_array("a_f32") == std::vector<float>{0.5f, -2.0f, 3.25f});
  std::vector<double> f64s = elems<double>(array(f, "a_f64", gguf_value_type::f64));
  REQUIRE(f64s.size() == 2);
  CHECK(f64s[0] == 1e-300);
  CHECK(std::signbit(f64s[1]));
  const gguf_array& bools = array(f, "a_bool", gguf_value_type::boolean);
  REQUIRE(bools.count == 3);
  CHECK(std::vector<uint8_t>(bools.raw, bools.raw + 3) == std::vector<uint8_t>{1, 0, 1});
  CHECK(f.get_string_array("a_str") == std::vector<std::string_view>{"x", "", "yz"});
  CHECK(f.get_f32_array("a_empty_f32").empty());
  CHECK(f.get_i32_array("a_empty_i32").empty());
}

TEST_CASE("gguf writer: nested arrays round-trip", "[gguf]") {
  temp_dir dir;
  gguf_writer w;
  std::vector<mv> inner = {mv::array(std::vector<int32_t>{1, 2}),
                           mv::string_array(std::vector<std::string_view>{"p", "q"}),
                           mv::array(std::vector<uint8_t>{})};
  std::vector<mv> outer = {mv::array_of_arrays(inner), mv::array(std::vector<double>{9.5})};
  w.add_kv("a_nested", mv::array_of_arrays(outer));
  w.add_kv("after", mv::u8(1));  // parsing resumes at the right place after the nesting
  w.write(dir.file("kv.gguf"));

  gguf_file f = gguf_file::open(dir.file("kv.gguf"));
  CHECK(f.get_int("after") == 1);
  const gguf_array& nested = array(f, "a_nested", gguf_value_type::array);
  REQUIRE(nested.count == 2);
  REQUIRE(nested.arrays.size() == 2);
  const gguf_array& lvl1 = *nested.arrays[0].arr;
  REQUIRE(lvl1.elem_type == gguf_value_type::array);
  REQUIRE(lvl1.arrays.size() == 3);
  CHECK(elems<int32_t>(*lvl1.arrays[0].arr) == std::vector<int32_t>{1, 2});
  CHECK(lvl1.arrays[1].arr->strings == std::vector<std::string_view>{"p", "q"});
  CHECK(lvl1.arrays[2].arr->elem_type == gguf_value_type::u8);
  CHECK(lvl1.arrays[2].arr->count == 0);
  CHECK(elems<double>(*nested.arrays[1].arr) == std::vector<double>{9.5});
}

TEST_CASE("gguf writer: F32, F16 and Q8_0 tensors round-trip byte for byte", "[gguf]") {
  temp_dir dir;
  std::vector<float> f32(4 * 3);
  for (size_t k = 0; k < f32.size(); ++k) f32[k] = static_cast<float>(k) * 0.5f - 2.0f;
  std::vector<uint16_t> f16(8 * 2);
  for (size_t k = 0; k < f16.size(); ++k) f16[k] = static_cast<uint16_t>(0x3c00 + k);  // 1.0 and up
  std::vector<uint8_t> q8 = q8_0_blocks(2 * 3);  // 64 x 3: two blocks per row, three rows

  gguf_writer w;
  w.add_kv("general.architecture", mv::string("test"));
  w.add_tensor("a.f32", ggml_type::f32, {4, 3}, bytes_of(f32));
  w.add_tensor("b.f16", ggml_type::f16, {8, 2}, bytes_of(f16));
  w.add_tensor("c.q8_0", ggml_type::q8_0, {64, 3}, q8);
  w.add_tensor("d.q8_0.4d", ggml_type::q8_0, {32, 1, 2, 1}, q8_0_blocks(2));
  w.write(dir.file("t.gguf"));

  gguf_file f = gguf_file::open(dir.file("t.gguf"));
  REQUIRE(f.tensors().size() == 4);
  CHECK(f.data_offset() % 32 == 0);
  CHECK(f.data_offset() == w.header().size());
  CHECK(f.file_size() == w.file_size());

  const gguf_tensor* a = f.find_tensor("a.f32");
  REQUIRE(a);
  CHECK(a->type == ggml_type::f32);
  CHECK(a->shape_string() == "[4, 3]");
  CHECK(a->offset == 0);
  CHECK(a->nbytes == 48);
  CHECK(std::vector<uint8_t>(a->data, a->data + a->nbytes) == bytes_of(f32));

  const gguf_tensor* b = f.find_tensor("b.f16");
  REQUIRE(b);
  CHECK(b->type == ggml_type::f16);
  CHECK(b->shape_string() == "[8, 2]");
  CHECK(b->offset == 64);  // 48 bytes padded to 32
  CHECK(b->nbytes == 32);
  CHECK(std::vector<uint8_t>(b->data, b->data + b->nbytes) == bytes_of(f16));

  const gguf_tensor* c = f.find_tensor("c.q8_0");
  REQUIRE(c);
  CHECK(c->type == ggml_type::q8_0);
  CHECK(c->shape_string() == "[64, 3]");
  CHECK(c->offset == 96);
  CHECK(c->nbytes == 6 * 34);
  CHECK(std::vector<uint8_t>(c->data, c->data + c->nbytes) == q8);

  const gguf_tensor* d = f.find_tensor("d.q8_0.4d");
  REQUIRE(d);
  CHECK(d->n_dims == 4);
  CHECK(d->shape_string() == "[32, 1, 2, 1]");
  CHECK(d->offset == 96 + 224);  // 204 bytes padded to 32
  CHECK(d->nbytes == 68);
  CHECK(std::vector<uint8_t>(d->data, d->data + d->nbytes) == q8_0_blocks(2));
  CHECK(f.file_size() == f.data_offset() + 320 + 96);  // the last tensor is padded too
}

TEST_CASE("gguf writer: general.alignment sets the layout", "[gguf]") {
  temp_dir dir;
  gguf_writer w;
  w.add_kv("general.alignment", mv::u32(256));
  w.add_tensor("x", ggml_type::f32, {3}, bytes_of(std::vector<float>{1, 2, 3}));
  w.add_tensor("y", ggml_type::f32, {5}, bytes_of(std::vector<float>{4, 5, 6, 7, 8}));
  CHECK(w.alignment() == 256);
  w.write(dir.file("a.gguf"));

  gguf_file f = gguf_file::open(dir.file("a.gguf"));
  CHECK(f.alignment() == 256);
  CHECK(f.data_offset() == 256);
  REQUIRE(f.find_tensor("y"));
  CHECK(f.find_tensor("y")->offset == 256);
  CHECK(f.file_size() == 256 + 512);
  std::vector<uint8_t> bytes = read_bytes(dir.file("a.gguf"));
  for (size_t k = 256 + 12; k < 512; ++k) REQUIRE(bytes[k] == 0);  // padding is zeros
}

TEST_CASE("gguf writer: producers stream bytes in chunks of any size", "[gguf]") {
  temp_dir dir;
  // 3 MiB of F32: larger than the writer's 1 MiB buffer, fed in uneven chunks, some larger.
  const int64_t n = 3 * 1024 * 1024 / 4;
  auto byte_at = [](uint64_t k) { return static_cast<uint8_t>((k * 2654435761u) >> 13); };
  gguf_writer w;
  w.add_tensor("big", ggml_type::f32, {1024, n / 1024}, [&](const gguf_byte_sink& sink) {
    std::vector<uint8_t> chunk;
    uint64_t pos = 0;
    const size_t sizes[] = {1, 7, 4096, 1 << 20, 3 << 19, 333};
    for (size_t k = 0; pos < static_cast<uint64_t>(n) * 4; ++k) {
      size_t len = std::min<uint64_t>(sizes[k % 6], n * 4 - pos);
      chunk.resize(len);
      for (size_t j = 0; j < len; ++j) chunk[j] = byte_at(pos + j);
      sink(chunk.data(), len);
      pos += len;
    }
  });
  w.write(dir.file("big.gguf"));
  gguf_file f = gguf_file::open(dir.file("big.gguf"));
  const gguf_tensor* t = f.find_tensor("big");
  REQUIRE(t);
  REQUIRE(t->nbytes == static_cast<size_t>(n) * 4);
  size_t mismatches = 0;
  for (size_t k = 0; k < t->nbytes; ++k) mismatches += t->data[k] != byte_at(k);
  CHECK(mismatches == 0);
}

TEST_CASE("gguf writer: a failed write leaves neither a file nor a .tmp", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.file("m.gguf");
  auto writer_with = [](gguf_tensor_producer produce) {
    gguf_writer w;
    w.add_tensor("t", ggml_type::f32, {4}, std::move(produce));
    return w;
  };
  SECTION("producer writes too few bytes") {
    auto w = writer_with([](const gguf_byte_sink& sink) { sink("abcd", 4); });
    CHECK_THROWS_AS(w.write(p), std::logic_error);
  }
  SECTION("producer writes too many bytes") {
    auto w = writer_with([](const gguf_byte_sink& sink) { sink("0123456789abcdefg", 17); });
    CHECK_THROWS_AS(w.write(p), std::logic_error);
  }
  SECTION("producer throws") {
    auto w = writer_with([](const gguf_byte_sink&) { throw std::runtime_error("boom"); });
    CHECK_THROWS_WITH(w.write(p), "boom");
  }
  SECTION("directory does not exist") {
    auto w = writer_with([](const gguf_byte_sink& sink) { sink("0123456789abcdef", 16); });
    CHECK_THROWS_AS(w.write(dir.file("no/such/dir/m.gguf")), std::system_error);
  }
  CHECK_FALSE(fs::exists(p));
  CHECK_FALSE(fs::exists(dir.file("m.gguf.tmp")));
}

TEST_CASE("gguf writer: a failed rewrite keeps the previous file", "[gguf]") {
  temp_dir dir;
  const fs::path p = dir.file("m.gguf");
  gguf_writer good;
  good.add_kv("k", mv::string("old"));
  good.write(p);
  gguf_writer bad;
  bad.add_kv("k", mv::string("new"));
  bad.add_tensor("t", ggml_type::f32, {1},
                 [](const gguf_byte_sink&) { throw std::runtime_error("x"); });
  CHECK_THROWS(bad.write(p));
  CHECK(gguf_file::open(p).get_string("k") == "old");
  CHECK_FALSE(fs::exists(dir.file("m.gguf.tmp")));
}

TEST_CASE("gguf writer: the checked API refuses what a reader would reject", "[gguf]") {
  gguf_writer w;
  w.add_kv("k", mv::u8(1));
  w.add_tensor("t", ggml_type::f32, {1}, bytes_of(std::vector<float>{1}));
  auto f32s = [](size_t n) { return std::vector<uint8_t>(n * 4); };
  CHECK_THROWS_AS(w.add_kv("k", mv::u8(2)), std::invalid_argument);
  CHECK_THROWS_AS(w.add_kv("general.alignment", mv::u32(0)), std::invalid_argument);
  CHECK_THROWS_AS(w.add_kv("general.alignment", mv::u32(48)), std::invalid_argument);
  CHECK_THROWS_AS(w.add_kv("general.alignment", mv::u64(64)), std::invalid_argument);
  CHECK_THROWS_AS(w.add_kv("raw", mv::raw(7, {2})), std::invalid_argument);
  CHECK_THROWS_AS(w.add_kv("raw_nested", mv::array_of_arrays(std::vector<mv>{mv::raw(9, {})})),
                  std::invalid_argument);
  CHECK_THROWS_AS(mv::array_of_arrays(std::vector<mv>{mv::u8(1)}), std::invalid_argument);
  CHECK_THROWS_AS(w.add_tensor("t", ggml_type::f32, {1}, f32s(1)), std::invalid_argument);
  CHECK_THROWS_AS(w.add_tensor(std::string(64, 'n'), ggml_type::f32, {1}, f32s(1)),
                  std::invalid_argument);
  CHECK_NOTHROW(w.add_tensor(std::string(63, 'n'), ggml_type::f32, {1}, f32s(1)));
  CHECK_THROWS_AS(w.add_tensor("u", ggml_type::f32, {}, f32s(1)), std::invalid_argument);
  CHECK_THROWS_AS(w.add_tensor("u", ggml_type::f32, {1, 1, 1, 1, 1}, f32s(1)),
                  std::invalid_argument);
  CHECK_THROWS_AS(w.add_tensor("u", ggml_type::f32, {4, 0}, f32s(0)), std::invalid_argument);
  CHECK_THROWS_AS(w.add_tensor("u", ggml_type::f32, {-4}, f32s(0)), std::invalid_argument);
  CHECK_THROWS_AS(w.add_tensor("u", ggml_type::f32, {1LL << 32, 1LL << 31}, f32s(0)),
                  std::invalid_argument);
  CHECK_THROWS_AS(w.add_tensor("u", ggml_type::q8_0, {33}, std::vector<uint8_t>(34)),
                  std::invalid_argument);
  CHECK_THROWS_AS(w.add_tensor("u", static_cast<ggml_type>(31), {1}, f32s(1)),
                  std::invalid_argument);
  CHECK_THROWS_AS(w.add_tensor("u", ggml_type::f32, {3}, f32s(2)), std::invalid_argument);
  CHECK_NOTHROW(w.add_tensor("u", ggml_type::q8_0, {32, 2}, std::vector<uint8_t>(68)));
}

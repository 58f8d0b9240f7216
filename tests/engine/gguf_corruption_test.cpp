// Malformed GGUF containers: each must give a load_error (never a crash, never another exception
// type) whose message starts with the path and names the offending key or tensor and the problem.
// Files are built with gguf_writer's unchecked API where it can express the fault, otherwise by
// patching a copy of a valid file. Model-level checks (missing hparams, ...) are not tested here.
#include <catch2/catch.hpp>

#include <limits>

#include "engine/gguf_test_map.h"
#include "engine/gguf_test_util.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

using namespace hearth;
using namespace hearth::test;
namespace fs = std::filesystem;
using mv = gguf_meta_value;

namespace {


// A valid writer with one small F32 tensor after `kv`.
gguf_writer with_kv(const std::string& key, gguf_meta_value v) {
  gguf_writer w;
  w.add_kv_unchecked(key, std::move(v));
  w.add_tensor("t", ggml_type::f32, {4}, std::vector<uint8_t>(16));
  return w;
}

gguf_writer after_first_tensor(gguf_tensor_record r) {
  gguf_writer w;
  w.add_kv("general.architecture", mv::string("llama"));
  w.add_tensor("first", ggml_type::f32, {8}, std::vector<uint8_t>(32));
  w.add_tensor_unchecked(std::move(r));
  return w;
}

}  // namespace

TEST_CASE("gguf corruption: the unmodified builders load", "[gguf]") {
  // Controls: the helpers below only ever change the one thing under test.
  temp_dir dir;
  with_kv("k", mv::u8(1)).write(dir.file("a.gguf"));
  CHECK(gguf_file::open(dir.file("a.gguf")).get_int("k") == 1);
  after_first_tensor(record("t", 0, {4}, 16)).write(dir.file("b.gguf"));
  CHECK(gguf_file::open(dir.file("b.gguf")).find_tensor("t")->offset == 32);
  write_bytes(dir.file("c.gguf"), read_bytes(shared_model("stories260K-q8_0.gguf")));
  CHECK(gguf_file::open(dir.file("c.gguf")).tensors().size() == 47);
}

TEST_CASE("gguf corruption: magic and version", "[gguf]") {
  expect_patched_error([](auto& b) { std::memcpy(b.data(), "GGML", 4); },
                       {"not a GGUF file", "magic \"GGML\"", "expected \"GGUF\""});
  expect_patched_error([](auto& b) { std::memcpy(b.data(), "\177ELF", 4); },
                       {"not a GGUF file", "?ELF"});
  expect_patched_error([](auto& b) { patch<uint32_t>(b, 0, 0); }, {"not a GGUF file", "magic"});
  for (uint32_t v : {0u, 1u, 4u, 0xffffffffu}) {
    INFO("version " << v);
    expect_patched_error([v](auto& b) { patch<uint32_t>(b, 4, v); },
                         {"unsupported GGUF version " + std::to_string(v), "expected 2 or 3"});
  }
  // Version 2 has the same layout as 3 and stays readable.
  temp_dir dir;
  std::vector<uint8_t> b = read_bytes(shared_model("stories260K-q8_0.gguf"));
  patch<uint32_t>(b, 4, 2);
  write_bytes(dir.file("v2.gguf"), b);
  CHECK(gguf_file::open(dir.file("v2.gguf")).version() == 2);
}

TEST_CASE("gguf corruption: files too small, missing or not regular", "[gguf]") {
  temp_dir dir;
  write_bytes(dir.file("empty.gguf"), {});
  check_message(open_error(dir.file("empty.gguf")), dir.file("empty.gguf"),
                {"file is 0 bytes", "shorter than a GGUF header"});
  check_message(open_error(dir.file("missing.gguf")), dir.file("missing.gguf"), {"cannot open"});
  check_message(open_error(dir.path()), dir.path(), {"not a regular file"});
}

TEST_CASE("gguf corruption: huge tensor and metadata counts", "[gguf]") {
  const size_t size = read_bytes(shared_model("stories260K-q8_0.gguf")).size();
  const uint64_t left = size - 24;  // bytes after the fixed header
  // The reader's bound: every tensor info takes at least 32 bytes, every key/value 13.
  for (uint64_t n : {two63, max64, left / 32 + 1}) {
    INFO("tensor count " << n);
    expect_patched_error([n](auto& b) { patch<uint64_t>(b, 8, n); },
                         {"tensor count " + std::to_string(n), "cannot fit", std::to_string(left)});
  }
  for (uint64_t n : {two63, max64, left / 13 + 1}) {
    INFO("metadata count " << n);
    expect_patched_error(
        [n](auto& b) { patch<uint64_t>(b, 16, n); },
        {"metadata count " + std::to_string(n), "cannot fit", std::to_string(left)});
  }
  // One more than the file really holds: parsing runs into the next section and fails there.
  // A 48th tensor info is read from the zero padding before the data: an empty name, 0 dims.
  expect_patched_error([](auto& b) { patch<uint64_t>(b, 8, 48); }, {"tensor ''", "n_dims 0"});
  // A 24th key/value swallows the first tensor info's name and n_dims (type 1, int8) and one
  // byte of its dim; the tensor info then read from the zeros that follow has 0 dims.
  expect_patched_error([](auto& b) { patch<uint64_t>(b, 16, 24); }, {"tensor ''", "n_dims 0"});
}

TEST_CASE("gguf corruption: huge string lengths", "[gguf]") {
  const gguf_map m = map_gguf(read_bytes(shared_model("stories260K-q8_0.gguf")));
  const size_t key0 = m.kvs[0].begin;            // key length of general.architecture
  const size_t value0 = key0 + 8 + 20 + 4;       // its string value's length
  const size_t name0 = m.tensor_infos[0].begin;  // name length of output_norm.weight
  for (uint64_t n : {two63, max64}) {
    INFO("length " << n);
    const std::string len = "string length " + std::to_string(n);
    expect_patched_error([&](auto& b) { patch<uint64_t>(b, key0, n); },
                         {"metadata entry 0 key", len, "exceeds"});
    expect_patched_error([&](auto& b) { patch<uint64_t>(b, value0, n); },
                         {"metadata 'general.architecture'", len, "exceeds"});
    expect_patched_error([&](auto& b) { patch<uint64_t>(b, name0, n); },
                         {"tensor info 0 name", len, "exceeds"});
    expect_error(with_kv("s", mv::raw(8, concat(le64(n), {'a', 'b', 'c'}))),
                 {"metadata 's'", len, "exceeds"});
  }
  // A tensor name over the reader's 1024-byte limit.
  expect_error(after_first_tensor(record(std::string(1025, 'n'), 0, {4}, 16)),
               {"tensor info 1", "name of 1025 bytes", "at most 1024"});
}

TEST_CASE("gguf corruption: a string length one past the end of the file", "[gguf]") {
  // One key/value ("s", a string) and no tensors: the value's length is at 24 + 8 + 1 + 4, its
  // bytes start 8 later, and everything after them (header padding) is still in the file.
  temp_dir dir;
  const fs::path p = dir.file("s.gguf");
  gguf_writer w;
  w.add_kv("s", mv::string("abc"));
  w.write(p);
  std::vector<uint8_t> b = read_bytes(p);
  const size_t at = 24 + 8 + 1 + 4;
  const uint64_t left = b.size() - (at + 8);
  patch<uint64_t>(b, at, left);  // exactly the rest of the file: valid
  write_bytes(p, b);
  CHECK(gguf_file::open(p).get_string("s")->size() == left);
  patch<uint64_t>(b, at, left + 1);
  write_bytes(p, b);
  check_message(open_error(p), p,
                {"metadata 's'", "string length " + std::to_string(left + 1),
                 "exceeds the " + std::to_string(left) + " bytes left"});
}

TEST_CASE("gguf corruption: huge array counts", "[gguf]") {
  auto arr = [](uint32_t elem, uint64_t count) {
    std::vector<uint8_t> b(4);
    std::memcpy(b.data(), &elem, 4);
    return mv::raw(9, concat(b, le64(count)));
  };
  struct one {
    uint32_t elem;
    uint64_t count;
    std::string need;
  };
  const one cases[] = {
      {0, two63, "needs at least 9223372036854775808 bytes"},   // uint8
      {0, max64, "needs at least 18446744073709551615 bytes"},  // uint8
      {4, two63, "needs at least more than 2^64 bytes"},        // uint32
      {10, max64, "needs at least more than 2^64 bytes"},       // uint64
      {8, two63, "needs at least more than 2^64 bytes"},        // string
      {8, max64 / 8, "needs at least"},                         // string, product just fits
      {9, max64, "needs at least more than 2^64 bytes"},        // nested arrays
  };
  for (const one& c : cases) {
    INFO("element type " << c.elem << ", count " << c.count);
    expect_error(with_kv("a", arr(c.elem, c.count)),
                 {"metadata 'a'", "array of " + std::to_string(c.count), c.need});
  }
}

TEST_CASE("gguf corruption: an array count one past what the file holds", "[gguf]") {
  // One key/value ("a", uint32 array) and no tensors: its count is at 24 + 8 + 1 + 4 + 4.
  temp_dir dir;
  const fs::path p = dir.file("a.gguf");
  gguf_writer w;
  w.add_kv("a", mv::array(std::vector<uint32_t>{1, 2, 3}));
  w.write(p);
  std::vector<uint8_t> b = read_bytes(p);
  const size_t at = 24 + 8 + 1 + 4 + 4;
  REQUIRE(peek<uint64_t>(b, at) == 3);
  const uint64_t left = b.size() - (at + 8);
  patch<uint64_t>(b, at, left / 4);  // as many elements as the rest of the file holds: valid
  write_bytes(p, b);
  CHECK(gguf_file::open(p).get_array("a")->count == left / 4);
  patch<uint64_t>(b, at, left / 4 + 1);
  write_bytes(p, b);
  check_message(open_error(p), p,
                {"metadata 'a'", "array of " + std::to_string(left / 4 + 1) + " uint32 elements",
                 "needs at least " + std::to_string((left / 4 + 1) * 4) + " bytes, only " +
                     std::to_string(left) + " left"});
}

TEST_CASE("gguf corruption: unknown value types and bad values", "[gguf]") {
  for (uint32_t t : {13u, 1000u, 0xffffffffu}) {
    INFO("type " << t);
    expect_error(with_kv("k", mv::raw(t, {0, 0, 0, 0})),
                 {"metadata 'k'", "unknown value type " + std::to_string(t), "expected 0..12"});
    std::vector<uint8_t> payload(4);
    std::memcpy(payload.data(), &t, 4);
    expect_error(with_kv("k", mv::raw(9, concat(payload, le64(1)))),
                 {"metadata 'k'", "unknown array element type " + std::to_string(t)});
  }
  for (uint8_t v : {2, 255}) {
    INFO("bool " << int(v));
    expect_error(with_kv("flag", mv::raw(7, {v})),
                 {"metadata 'flag'", "bool value " + std::to_string(v), "expected 0 or 1"});
  }
  // Elements of a bool array are held to the same rule as a single bool.
  std::vector<uint8_t> bool_elems = {7, 0, 0, 0};  // element type bool
  expect_error(with_kv("flags", mv::raw(9, concat(concat(bool_elems, le64(3)), {1, 0, 2}))),
               {"metadata 'flags'[2]", "bool value 2", "expected 0 or 1"});
  gguf_writer dup;
  dup.add_kv("k", mv::u32(1));
  dup.add_kv("other", mv::u32(2));
  dup.add_kv_unchecked("k", mv::string("again"));
  expect_error(dup, {"duplicate metadata 'k'"});
}

TEST_CASE("gguf corruption: general.alignment", "[gguf]") {
  for (uint32_t a : {0u, 3u, 48u, 0xffffffffu}) {
    INFO("alignment " << a);
    expect_error(with_kv("general.alignment", mv::u32(a)),
                 {"'general.alignment'", std::to_string(a) + " is not a power of two"});
  }
  expect_error(with_kv("general.alignment", mv::string("32")),
               {"'general.alignment'", "type string", "expected uint32"});
  expect_error(with_kv("general.alignment", mv::u64(32)),
               {"'general.alignment'", "type uint64", "expected uint32"});
  expect_error(with_kv("general.alignment", mv::i32(32)),
               {"'general.alignment'", "type int32", "expected uint32"});
}

TEST_CASE("gguf corruption: nested arrays deeper than the limit", "[gguf]") {
  // The reader allows arrays nested 8 deep inside a top-level array (9 levels in all).
  auto nested = [](int levels) {
    mv v = mv::array(std::vector<uint8_t>{7});
    for (int k = 1; k < levels; ++k) v = mv::array_of_arrays(std::vector<mv>{v});
    return v;
  };
  temp_dir dir;
  with_kv("deep", nested(9)).write(dir.file("ok.gguf"));
  gguf_file f = gguf_file::open(dir.file("ok.gguf"));
  const gguf_array* a = f.get_array("deep");
  REQUIRE(a);
  for (int k = 1; k < 9; ++k) a = a->arrays.at(0).arr.get();
  CHECK(a->elem_type == gguf_value_type::u8);
  expect_error(with_kv("deep", nested(10)), {"metadata 'deep'", "nested deeper than 8"});
  expect_error(with_kv("deep", nested(1000)), {"metadata 'deep'", "nested deeper than 8"});
}

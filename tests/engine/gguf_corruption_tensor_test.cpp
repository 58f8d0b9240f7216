// Malformed tensor infos: offsets, sizes, shapes and types. Each must give a load_error naming
// the tensor and the problem. (Metadata and header faults: gguf_corruption_test.cpp.)
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

constexpr uint32_t f32_id = 0;

// A valid file of two tensors, then `r`. Data section: "first" (32 bytes) at 0, "second"
// (16 bytes) at 32, `r` at 64 unless it overrides its offset.
gguf_writer after_two_tensors(gguf_tensor_record r, uint32_t alignment = 32) {
  gguf_writer w;
  w.add_kv("general.alignment", mv::u32(alignment));
  w.add_tensor("first", ggml_type::f32, {8}, std::vector<uint8_t>(32));
  w.add_tensor("second", ggml_type::f32, {4}, std::vector<uint8_t>(16));
  w.add_tensor_unchecked(std::move(r));
  return w;
}

}  // namespace

TEST_CASE("gguf corruption: the tensor builder's control case loads", "[gguf]") {
  temp_dir dir;
  after_two_tensors(record("t", f32_id, {4, 2}, 32)).write(dir.file("ok.gguf"));
  gguf_file f = gguf_file::open(dir.file("ok.gguf"));
  REQUIRE(f.find_tensor("t"));
  CHECK(f.find_tensor("t")->offset == 64);
  CHECK(f.file_size() - f.data_offset() == 96);
}

TEST_CASE("gguf corruption: tensor offsets past the end, overflowing or misaligned", "[gguf]") {
  // The data section is 96 bytes: "t" (32 bytes) really sits at 64.
  for (uint64_t off : std::vector<uint64_t>{96, 128, 1ULL << 40, max64 - 31}) {
    INFO("offset " << off);
    expect_error(after_two_tensors(record("t", f32_id, {8}, 32, off)),
                 {"tensor 't'", "offset " + std::to_string(off) + " + size 32",
                  "exceeds the data section of 96 bytes"});
  }
  // Inside the section but running past its end.
  expect_error(after_two_tensors(record("t", f32_id, {16}, 32, 64)),
               {"tensor 't'", "offset 64 + size 64", "exceeds the data section of 96 bytes"});
  // offset + size wraps past 2^64 to 32: an unguarded `offset + size <= data size` would pass.
  // F32 [2^62 - 8] claims 2^64 - 32 bytes.
  expect_error(
      after_two_tensors(record("wrap", f32_id, {(1ULL << 62) - 8}, 32, 64)),
      {"tensor 'wrap'", "offset 64 + size 18446744073709551584", "exceeds the data section"});
  for (uint64_t off : std::vector<uint64_t>{1, 16, 48, 65}) {
    INFO("offset " << off);
    expect_error(
        after_two_tensors(record("t", f32_id, {4}, 16, off)),
        {"tensor 't'", "offset " + std::to_string(off) + " is not a multiple of the alignment 32"});
  }
  // general.alignment is honoured: 32 is aligned for the default but not for 64.
  gguf_writer w;
  w.add_kv("general.alignment", mv::u32(64));
  w.add_tensor("first", ggml_type::f32, {8}, std::vector<uint8_t>(32));
  w.add_tensor_unchecked(record("t", f32_id, {4}, 16, 32));
  expect_error(w, {"tensor 't'", "offset 32 is not a multiple of the alignment 64"});
}

TEST_CASE("gguf corruption: tensor byte size overflowing 64 bits", "[gguf]") {
  // F64 [2^62]: 2^62 elements fit in int64, 2^65 bytes do not.
  expect_error(after_two_tensors(record("big", 28, {1ULL << 62}, 32)),
               {"tensor 'big'", "byte size overflows 64 bits"});
}

TEST_CASE("gguf corruption: unknown tensor types", "[gguf]") {
  // Ids absent from hearth's table: 4 and 5 (ggml's retired Q4_2, Q4_3), 31..33 and 36..38
  // (since-removed repacked types), and ids past the end.
  for (uint32_t id : {4u, 5u, 31u, 36u, 40u, 1000u, 0xffffffffu}) {
    INFO("type id " << id);
    expect_error(after_two_tensors(record("t", id, {32}, 32)),
                 {"tensor 't'", "unknown tensor type id " + std::to_string(id)});
  }
}

TEST_CASE("gguf corruption: bad tensor dimensions", "[gguf]") {
  expect_error(after_two_tensors(record("t", f32_id, {}, 32)),
               {"tensor 't'", "n_dims 0", "expected 1..4"});
  expect_error(after_two_tensors(record("t", f32_id, {8, 1, 1, 1, 1}, 32)),
               {"tensor 't'", "n_dims 5", "expected 1..4"});
  const gguf_map m = map_gguf(read_bytes(shared_model("stories260K-q8_0.gguf")));
  const size_t n_dims_at = m.tensor_infos[0].begin + 8 + std::string("output_norm.weight").size();
  expect_patched_error([&](auto& b) { patch<uint32_t>(b, n_dims_at, 0xffffffffu); },
                       {"tensor 'output_norm.weight'", "n_dims 4294967295", "expected 1..4"});

  expect_error(after_two_tensors(record("t", f32_id, {0}, 32)),
               {"tensor 't'", "dim 0 is 0", "expected 1..2^63-1"});
  expect_error(after_two_tensors(record("t", f32_id, {8, 0}, 32)), {"tensor 't'", "dim 1 is 0"});
  expect_error(after_two_tensors(record("t", f32_id, {1, 1, 1, 0}, 32)), {"tensor 't'", "dim 3 is 0"});
  for (uint64_t d : {two63, max64}) {
    expect_error(after_two_tensors(record("t", f32_id, {d}, 32)),
                 {"tensor 't'", "dim 0 is " + std::to_string(d), "expected 1..2^63-1"});
  }
}

TEST_CASE("gguf corruption: tensor element counts overflowing 64 bits", "[gguf]") {
  struct one {
    std::vector<uint64_t> dims;
    int at;
  };
  const one cases[] = {
      {{1ULL << 32, 1ULL << 32}, 1},              // 2^64
      {{2, 1ULL << 62}, 1},                       // 2^63: one past int64
      {{1ULL << 31, 1ULL << 31, 1ULL << 31}, 2},  // 2^93
      {{3, 5, 7, two63 - 1}, 3},
  };
  for (const one& c : cases) {
    expect_error(after_two_tensors(record("t", f32_id, c.dims, 32)),
                 {"tensor 't'", "element count overflows 64 bits at dim " + std::to_string(c.at)});
  }
  // The largest count that fits still parses its shape; it then fails on the data size.
  expect_error(after_two_tensors(record("t", 24, {two63 - 1}, 32)),
               {"tensor 't'", "exceeds the data section"});  // I8
}

TEST_CASE("gguf corruption: rows not a multiple of the block size", "[gguf]") {
  expect_error(after_two_tensors(record("t", 8, {33, 2}, 68)),
               {"tensor 't'", "row of 33 elements is not a multiple of Q8_0's block size 32"});
  expect_error(after_two_tensors(record("t", 2, {48}, 18)),
               {"tensor 't'", "row of 48 elements is not a multiple of Q4_0's block size 32"});
  expect_error(after_two_tensors(record("t", 12, {128}, 144)),
               {"tensor 't'", "row of 128 elements is not a multiple of Q4_K's block size 256"});
  // The block condition is on the row only: 32 x 33 Q8_0 is fine.
  temp_dir dir;
  after_two_tensors(record("t", 8, {32, 33}, 33 * 34)).write(dir.file("ok.gguf"));
  CHECK(gguf_file::open(dir.file("ok.gguf")).find_tensor("t")->nbytes == 33 * 34);
}

TEST_CASE("gguf corruption: duplicate tensor names", "[gguf]") {
  expect_error(after_two_tensors(record("first", f32_id, {8}, 32)), {"duplicate tensor name 'first'"});
  const gguf_map m = map_gguf(read_bytes(shared_model("stories260K-q8_0.gguf")));
  // Rename blk.0.attn_q.weight to blk.0.attn_k.weight (same length) in the real file.
  const gguf_span& q = m.tensor_infos[5];
  REQUIRE(q.subject == "blk.0.attn_q.weight");
  expect_patched_error([&](auto& b) { b[q.begin + 8 + 11] = 'k'; },
                       {"duplicate tensor name 'blk.0.attn_k.weight'"});
}

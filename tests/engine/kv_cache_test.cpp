#include <catch2/catch.hpp>

#include <cstring>

#include "kv_cache.h"

using namespace hearth;

namespace {
hparams make_hp(int64_t layers, int64_t heads, int64_t kv_heads, int64_t head_dim) {
  hparams hp;
  hp.n_layer = layers;
  hp.n_head = heads;
  hp.n_head_kv = kv_heads;
  hp.head_dim = head_dim;
  hp.n_embd = heads * head_dim;
  return hp;
}
hparams small_hp() { return make_hp(2, 4, 2, 8); }
// Issue 7, hole 1: 4,096 layers × 128 KV heads × dimension 1,024 keys and values.
hparams huge_hp() { return make_hp(4096, 128, 128, 1024); }
}  // namespace

TEST_CASE("kv_cache shares one block pool between sequences", "[kv_cache]") {
  kv_cache kv(small_hp(), 10, 16);
  CHECK(kv.free_blocks() == 10);
  int32_t a = kv.seq_create(), b = kv.seq_create();
  REQUIRE(kv.seq_reserve(a, 33));  // 3 blocks
  CHECK(kv.seq_capacity(a) == 48);
  REQUIRE(kv.seq_reserve(b, 16));  // 1 block
  CHECK(kv.used_blocks() == 4);
  CHECK_FALSE(kv.seq_reserve(b, 16 * 8));  // needs 7 more, only 6 free: nothing taken
  CHECK(kv.used_blocks() == 4);
  REQUIRE(kv.seq_reserve(b, 16 * 7));
  CHECK(kv.free_blocks() == 0);
  kv.seq_free(a);
  CHECK(kv.free_blocks() == 3);
  kv.seq_truncate(b, 20);
  CHECK(kv.seq_capacity(b) == 32);
  CHECK(kv.free_blocks() == 8);
  int32_t c = kv.seq_create();
  CHECK(c == a);  // ids are reused
  REQUIRE(kv.seq_reserve(c, 16 * 8));
  CHECK(kv.free_blocks() == 0);
}

TEST_CASE("kv_cache blocks do not overlap", "[kv_cache]") {
  hparams hp = small_hp();
  kv_cache kv(hp, 4, 8);
  // Write a distinct value everywhere through every (block, layer, head) view, then read back.
  for (int32_t b = 0; b < 4; ++b)
    for (int64_t l = 0; l < hp.n_layer; ++l)
      for (int64_t g = 0; g < hp.n_head_kv; ++g)
        for (int64_t i = 0; i < 8 * hp.head_dim; ++i) {
          kv.keys(b, l, g)[i] = static_cast<uint16_t>(((b * 2 + l) * 2 + g) * 2);
          kv.values(b, l, g)[i] = static_cast<uint16_t>(((b * 2 + l) * 2 + g) * 2 + 1);
        }
  for (int32_t b = 0; b < 4; ++b)
    for (int64_t l = 0; l < hp.n_layer; ++l)
      for (int64_t g = 0; g < hp.n_head_kv; ++g)
        for (int64_t i = 0; i < 8 * hp.head_dim; ++i) {
          REQUIRE(kv.keys(b, l, g)[i] == ((b * 2 + l) * 2 + g) * 2);
          REQUIRE(kv.values(b, l, g)[i] == ((b * 2 + l) * 2 + g) * 2 + 1);
        }
  CHECK(kv.bytes() == kv_cache::bytes_per_block(hp, 8) * 4);
}

// 2^30 elements a position; blocks of 2^16 positions make 2^46 elements a block, and 2^18
// blocks 2^64 elements: the old size wrapped to 0, calloc(0) succeeded, and the first write
// went outside the buffer.
TEST_CASE("kv_cache refuses a size that overflows 64 bits instead of wrapping", "[kv_cache]") {
  CHECK_THROWS_AS(kv_cache(huge_hp(), 1 << 18, 1 << 16), std::length_error);
  CHECK_THROWS_AS(kv_cache(small_hp(), int64_t{1} << 31, 16), std::invalid_argument);  // block ids are int32
  CHECK_THROWS_AS(kv_cache(small_hp(), 0, 16), std::invalid_argument);
}

TEST_CASE("kv_cache sizes are exact or overflowed, never wrapped", "[kv_cache]") {
  const hparams hp = huge_hp();
  CHECK(kv_cache::bytes_per_position(hp).value() == uint64_t{1} << 31);
  CHECK(kv_cache::bytes_per_block(hp, 1 << 16).value() == uint64_t{1} << 47);
  CHECK(kv_cache::bytes_for(hp, 1 << 18, 1 << 16).overflowed());
  // small_hp: 2 layers × 2 (keys, values) × 2 KV heads × 8 dims × 2 bytes = 128 bytes a position.
  CHECK(kv_cache::bytes_per_position(small_hp()).value() == 128);
  CHECK(kv_cache::bytes_for(small_hp(), 10, 16).value() == 10 * (16 * 128 + 8));
}

namespace {

// Whether every key and value of `block` is zero, read through the const (non-marking) views.
bool block_is_zero(const kv_cache& kv, const hparams& hp, int32_t block) {
  for (int64_t l = 0; l < hp.n_layer; ++l)
    for (int64_t g = 0; g < hp.n_head_kv; ++g)
      for (size_t i = 0; i < kv.block_size() * kv.row_bytes(); ++i)
        if (kv.keys(block, l, g)[i] != 0 || kv.values(block, l, g)[i] != 0) return false;
  return true;
}

// Every element of `block` set to the F16 value v.
void fill_block(kv_cache& kv, const hparams& hp, int32_t block, uint16_t v) {
  for (int64_t l = 0; l < hp.n_layer; ++l)
    for (int64_t g = 0; g < hp.n_head_kv; ++g)
      for (int64_t i = 0; i < kv.block_size() * hp.head_dim; ++i) {
        std::memcpy(kv.keys(block, l, g) + i * sizeof v, &v, sizeof v);
        std::memcpy(kv.values(block, l, g) + i * sizeof v, &v, sizeof v);
      }
}

}  // namespace

TEST_CASE("kv_cache zeroes the blocks a sequence releases", "[kv_cache]") {
  const hparams hp = small_hp();
  kv_cache kv(hp, 6, 4);
  const int32_t a = kv.seq_create(), b = kv.seq_create();
  REQUIRE(kv.seq_reserve(a, 12));  // 3 blocks
  REQUIRE(kv.seq_reserve(b, 8));   // 2 blocks
  const std::vector<int32_t> blocks_a = kv.seq_blocks(a), blocks_b = kv.seq_blocks(b);
  for (int32_t blk : blocks_a) fill_block(kv, hp, blk, 0x3c00);  // 1.0 in F16
  for (int32_t blk : blocks_b) fill_block(kv, hp, blk, 0xbc00);  // -1.0
  kv.seq_truncate(a, 5);  // keeps 2 blocks, releases the third
  CHECK(block_is_zero(kv, hp, blocks_a[2]));
  CHECK_FALSE(block_is_zero(kv, hp, blocks_a[1]));
  kv.seq_free(a);
  for (int32_t blk : blocks_a) CHECK(block_is_zero(kv, hp, blk));
  // Another sequence's blocks are untouched.
  for (int32_t blk : blocks_b) CHECK_FALSE(block_is_zero(kv, hp, blk));
  // A block reused and written again is zeroed again when released.
  const int32_t c = kv.seq_create();
  REQUIRE(kv.seq_reserve(c, 4));
  const int32_t reused = kv.seq_blocks(c)[0];
  fill_block(kv, hp, reused, 0x4000);
  kv.seq_free(c);
  CHECK(block_is_zero(kv, hp, reused));
}

TEST_CASE("kv_cache shares a prompt's blocks: freed and zeroed when the last holder lets go", "[kv_cache]") {
  const hparams hp = small_hp();
  kv_cache kv(hp, 8, 4);
  const int32_t a = kv.seq_create();
  REQUIRE(kv.seq_reserve(a, 10));  // 3 blocks: positions 0-3, 4-7, 8-9 (a prompt of 10)
  const std::vector<int32_t> blocks_a = kv.seq_blocks(a);
  for (int32_t blk : blocks_a) fill_block(kv, hp, blk, 0x3c00);
  const int32_t b = kv.seq_create();
  kv.seq_share(a, b, 2);  // the two full blocks
  REQUIRE(kv.seq_reserve(b, 16));  // its own block for 8-11 and one more
  CHECK(kv.free_blocks() == 8 - 3 - 2);
  const std::vector<int32_t> blocks_b = kv.seq_blocks(b);
  REQUIRE(blocks_b.size() == 4);
  CHECK(blocks_b[0] == blocks_a[0]);
  CHECK(blocks_b[1] == blocks_a[1]);
  CHECK(blocks_b[2] != blocks_a[2]);
  CHECK(kv.block_holders(blocks_a[0]) == 2);
  CHECK(kv.block_holders(blocks_a[2]) == 1);
  // The block the prompt ends in, copied: b's own, with a's bytes.
  CHECK(block_is_zero(kv, hp, blocks_b[2]));
  kv.copy_block(a, b, 2);
  CHECK(std::memcmp(kv.keys(blocks_b[2], 1, 1), kv.keys(blocks_a[2], 1, 1), kv.row_bytes() * 4) == 0);
  CHECK_THROWS_AS(kv.copy_block(a, b, 0), std::invalid_argument);  // the same block: nothing to copy
  CHECK_THROWS_AS(kv.seq_share(a, b, 1), std::invalid_argument);   // b is not empty
  // a leaves: the shared blocks stay (b still reads them), a's own are zeroed and freed.
  kv.seq_free(a);
  CHECK_FALSE(block_is_zero(kv, hp, blocks_a[0]));
  CHECK(block_is_zero(kv, hp, blocks_a[2]));
  CHECK(kv.block_holders(blocks_a[0]) == 1);
  CHECK(kv.free_blocks() == 8 - 4);
  // b leaves: everything is free and zeroed.
  kv.seq_free(b);
  CHECK(kv.free_blocks() == 8);
  for (int32_t blk : blocks_b) CHECK(block_is_zero(kv, hp, blk));
  CHECK(kv.block_holders(blocks_a[0]) == 0);
}

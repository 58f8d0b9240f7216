#include <catch2/catch.hpp>

#include "kv_cache.h"

using namespace hearth;

namespace {
hparams small_hp() {
  hparams hp;
  hp.n_layer = 2;
  hp.n_head = 4;
  hp.n_head_kv = 2;
  hp.head_dim = 8;
  hp.n_embd = 32;
  return hp;
}
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

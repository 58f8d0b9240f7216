// The type traits table against the GGUF format's own block layouts, and its lookups.
#include <catch2/catch.hpp>

#include <set>

#include "kernels/kernels.h"
#include "kernels/type_traits.h"

using namespace hearth;
using namespace hearth::kernels;

TEST_CASE("type traits: every row's block layout is the GGUF format's", "[types]") {
  std::set<ggml_type> seen;
  for (const type_traits* t : all_type_traits()) {
    INFO(ggml_type_name(t->type));
    CHECK(seen.insert(t->type).second);  // one row per type
    auto info = ggml_type_info(static_cast<uint32_t>(t->type));
    REQUIRE(info);
    CHECK(t->block == info->block_size);
    CHECK(t->block_bytes == info->type_size);
    CHECK(type_traits_of(t->type) == t);
    CHECK(t->dequantize);
    CHECK(t->quantize);
    CHECK(t->gemm);
    CHECK(scalar().gemm[static_cast<uint32_t>(t->type)] == t->gemm);
    CHECK((t->pack == nullptr) == (t->packed_block_bytes == 0));
    // A packed block holds 16 stored blocks' bytes, rearranged.
    if (t->pack) CHECK(t->packed_block_bytes == 16 * t->block_bytes);
    // Its activation format's blocks tile the type's blocks.
    CHECK(t->block % act_format_info(t->act).block == 0);
  }
}

TEST_CASE("type traits: types without a row are refused by the lookups", "[types]") {
  for (ggml_type t : {ggml_type::q8_1, ggml_type::q8_k, ggml_type::iq2_xxs, ggml_type::i32, ggml_type::mxfp4}) {
    CHECK(type_traits_of(t) == nullptr);
    CHECK_FALSE(is_matmul_type(t));
    CHECK(dequant_for(t) == nullptr);
    CHECK(gemm_for(scalar(), t, 256) == nullptr);
  }
  CHECK(type_traits_of(static_cast<ggml_type>(1000)) == nullptr);
  CHECK(gemm_packed_for(scalar(), static_cast<ggml_type>(1000)) == nullptr);
}

TEST_CASE("type traits: activation formats and their row sizes", "[types]") {
  for (int f = 0; f < act_format_count; ++f) CHECK(static_cast<int>(act_format_info(static_cast<act_format>(f)).format) == f);
  CHECK(act_row_bytes(act_format::f32, 64) == 256);
  CHECK(act_row_bytes(act_format::f16, 64) == 128);
  CHECK(act_row_bytes(act_format::q8, 64) == 2 * 40);
  CHECK(act_row_bytes(act_format::q8_k, 512) == 2 * 292);
  CHECK(convert_for(scalar(), act_format::f32) == nullptr);
}

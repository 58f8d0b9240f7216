// The per-tensor types of llama-quantize's file types against the files it wrote: every weight
// of the tiny-llama files in ../shared/models/arch has the type mix_tensor_type gives it.
#include <catch2/catch.hpp>

#include <string>

#include "gguf/gguf_file.h"
#include "model/quant_mix.h"
#include "reference.h"

using namespace hearth;

TEST_CASE("quant mixes: llama-quantize's tiny-llama files have the types the rules give", "[types]") {
  const char* const files[] = {"q8_0", "q4_0", "q4_1", "q5_0", "q4_k_m", "q5_k_m", "q6_k", "q2_k", "iq4_nl", "iq4_xs"};
  for (const char* name : files) {
    gguf_file f = gguf_file::open(test::shared_path(std::string("models/arch/tiny-llama-") + name + ".gguf"));
    auto mix = find_quant_mix(name);
    REQUIRE(mix);
    CHECK(f.get_int("general.file_type") == mix->file_type);
    const int n_layer = static_cast<int>(*f.get_int("llama.block_count"));
    const int n_gqa = static_cast<int>(*f.get_int("llama.attention.head_count") / *f.get_int("llama.attention.head_count_kv"));
    int matrices = 0;
    for (const gguf_tensor& t : f.tensors()) {
      if (t.n_dims != 2) continue;
      INFO(name << " " << t.name);
      CHECK(ggml_type_name(mix_tensor_type(*mix, t.name, t.ne[0], n_layer, n_gqa)) == ggml_type_name(t.type));
      ++matrices;
    }
    CHECK(matrices == 2 + 7 * n_layer);
  }
}

TEST_CASE("quant mixes: rows that do not fit a type's blocks fall back as llama-quantize does", "[types]") {
  const quant_mix q4_k_m = *find_quant_mix("q4_k_m");
  CHECK(mix_tensor_type(q4_k_m, "blk.2.ffn_down.weight", 96, 8, 1) == ggml_type::q5_0);
  CHECK(mix_tensor_type(q4_k_m, "blk.0.attn_q.weight", 192, 8, 1) == ggml_type::q5_0);
  CHECK(mix_tensor_type(*find_quant_mix("q6_k"), "blk.0.attn_q.weight", 96, 8, 1) == ggml_type::q8_0);
  CHECK(mix_tensor_type(q4_k_m, "output.weight", 96, 8, 1) == ggml_type::q8_0);
  // Q6_K, then Q8_0, then (rows not a multiple of 32) F16.
  CHECK(mix_tensor_type(q4_k_m, "blk.0.ffn_down.weight", 172, 8, 1) == ggml_type::f16);
  // The *_M mixes spend more bits on the first and last eighth of the layers and every third one
  // between (llama.cpp's use_more_bits), here with 22 layers as TinyLlama 1.1B has.
  int q6 = 0;
  for (int l = 0; l < 22; ++l) {
    q6 += mix_tensor_type(q4_k_m, "blk." + std::to_string(l) + ".ffn_down.weight", 5632, 22, 8) ==
          ggml_type::q6_k;
  }
  CHECK(q6 == 10);  // layers 0, 1, 4, 7, 10, 13, 16, 19, 20, 21
}

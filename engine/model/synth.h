#pragma once
// Writes GGUF files of a real model's shape with seeded random weights (normal x 0.02, norms 1):
// benchmark models, since speed does not depend on the values. Standard llama keys and tensor
// names, so other GGUF readers (llama.cpp) load them too.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/ggml_type.h"
#include "model/quant_mix.h"

namespace hearth {

struct synth_shape {
  std::string_view name;
  int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
};

// tinyllama-1.1b (2048, 22 layers, 32 heads, 4 KV heads, ffn 5632, ctx 2048) and llama-160m
// (768, 12 layers, 12 heads, 12 KV heads, ffn 3072, ctx 2048).
const std::vector<synth_shape>& synth_shapes();
std::optional<synth_shape> find_synth_shape(std::string_view name);

struct synth_options {
  synth_shape shape;
  quant_mix mix = *find_quant_mix("q4_0");  // per-tensor types as llama-quantize picks them (norms F32)
  std::filesystem::path vocab_file;     // a GGUF whose tokenizer.* keys are copied
  uint64_t seed = 1;
  int threads = 1;                      // tensors generated in parallel
};

// Throws load_error (vocab file), std::invalid_argument (options) or std::system_error (I/O).
void write_synth_model(const synth_options& o, const std::filesystem::path& out);

}  // namespace hearth

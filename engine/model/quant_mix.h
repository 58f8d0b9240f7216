#pragma once
// The file types of llama-quantize ("Q4_K_M", ...): which tensor type each weight of a llama-
// architecture model gets, by llama.cpp's rules (src/llama-quant.cpp), so files written by
// `hearth synth` have the type mix of the files people download.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gguf/ggml_type.h"

namespace hearth {

struct quant_mix {
  std::string_view name;  // as `hearth synth --type` spells it: "q4_k_m"
  uint32_t file_type;     // general.file_type (llama.cpp's LLAMA_FTYPE_MOSTLY_*)
  ggml_type base;         // the type of the matrices no rule changes
  // An importance matrix is used (llama-quantize --imatrix): the IQ4 mixes then keep IQ4 in the
  // first eighth of ffn_down, and Q4_0 / Q5_0 give it Q4_1 / Q5_1 there.
  bool imatrix = false;
};

const std::vector<quant_mix>& quant_mixes();
std::optional<quant_mix> find_quant_mix(std::string_view name);
// "f16, q8_0, q4_0, ...": every name find_quant_mix knows, for help and error messages.
std::string quant_mix_names();

// The type of the 2-D weight `name` ("output.weight", "blk.3.attn_v.weight", ...) with rows of
// `ncols` elements, in a model of n_layer layers whose query heads share each KV head n_gqa at a
// time. A model without output.weight (tied embeddings) passes "output.weight" for token_embd,
// as llama.cpp treats it.
ggml_type mix_tensor_type(const quant_mix& mix, std::string_view name, int64_t ncols, int n_layer, int n_gqa);
// The type llama.cpp's rules choose before the fallback for rows that do not fit its blocks:
// where this differs from mix_tensor_type, the tensor fell back.
ggml_type mix_rule_type(const quant_mix& mix, std::string_view name, int n_layer, int n_gqa);

}  // namespace hearth

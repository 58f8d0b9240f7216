#include "model/quant_mix.h"

#include <charconv>
#include <string>

namespace hearth {

namespace {

// llama.cpp's LLAMA_FTYPE_MOSTLY_* values.
enum ftype : uint32_t {
  f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 7, q5_0 = 8, q5_1 = 9, q2_k = 10, q3_k_s = 11, q3_k_m = 12, q3_k_l = 13,
  q4_k_s = 14, q4_k_m = 15, q5_k_s = 16, q5_k_m = 17, q6_k = 18, iq4_nl = 25, iq4_xs = 30,
};

// Layers that get more bits in the *_M mixes: the first and last eighth, and every third between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

int layer_of(std::string_view name) {
  int layer = -1;
  if (name.starts_with("blk.")) std::from_chars(name.data() + 4, name.data() + name.size(), layer);
  return layer;
}

bool is(std::string_view name, std::string_view part) { return name.ends_with(std::string(part) + ".weight"); }

// llama_tensor_get_type_impl for the file types above (no experts, not Falcon); imatrix: an
// importance matrix is given (qs.has_imatrix).
ggml_type rule(uint32_t ft, ggml_type t, std::string_view name, int n_layer, int n_gqa, bool imatrix) {
  const int i = layer_of(name);
  if (name == "output.weight") return t == ggml_type::q8_0 ? t : ggml_type::q6_k;
  if (is(name, "attn_v")) {
    if (ft == q2_k) return n_gqa >= 4 ? ggml_type::q4_k : ggml_type::q3_k;
    if (ft == q3_k_m) return i < 2 ? ggml_type::q5_k : ggml_type::q4_k;
    if (ft == q3_k_l) return ggml_type::q5_k;
    if ((ft == iq4_nl || ft == iq4_xs) && n_gqa >= 4) return ggml_type::q5_k;
    if ((ft == q4_k_m || ft == q5_k_m) && use_more_bits(i, n_layer)) return ggml_type::q6_k;
    if (ft == q4_k_s && i < 4) return ggml_type::q5_k;
    return t;
  }
  if (is(name, "ffn_down")) {
    if (ft == q2_k) return ggml_type::q3_k;
    if (ft == q3_k_m) return i < n_layer / 16 ? ggml_type::q5_k : ggml_type::q4_k;
    if (ft == q3_k_l) return ggml_type::q5_k;
    if (ft == q4_k_m) return use_more_bits(i, n_layer) ? ggml_type::q6_k : t;
    if (i < n_layer / 8 && (ft == iq4_nl || ft == iq4_xs) && !imatrix) return ggml_type::q5_k;
    if (ft == q5_k_m && use_more_bits(i, n_layer)) return ggml_type::q6_k;
    if (ft == q4_k_s && i < n_layer / 8) return ggml_type::q5_k;
    // llama.cpp's guard for the first ffn_down layers of Q4_0 / Q5_0 files made with an imatrix.
    if ((ft == q4_0 || ft == q5_0) && imatrix && i < n_layer / 8) return ft == q4_0 ? ggml_type::q4_1 : ggml_type::q5_1;
    return t;
  }
  if (is(name, "attn_qkv")) {  // fused Q, K and V (Phi-3)
    if (ft == q3_k_m || ft == q3_k_l) return ggml_type::q4_k;
    if (ft == q4_k_m) return ggml_type::q5_k;
    if (ft == q5_k_m) return ggml_type::q6_k;
    return t;
  }
  if (is(name, "attn_output")) {
    if (ft == q2_k) return ggml_type::q3_k;
    if (ft == q3_k_m) return ggml_type::q4_k;
    if (ft == q3_k_l) return ggml_type::q5_k;
  }
  return t;
}

// tensor_type_fallback: rows that are not a whole number of the type's blocks.
ggml_type fallback(ggml_type t, int64_t ncols) {
  if (ncols % ggml_type_info(static_cast<uint32_t>(t))->block_size == 0) return t;
  switch (t) {
    case ggml_type::iq4_xs: t = ggml_type::iq4_nl; break;
    case ggml_type::q2_k: case ggml_type::q3_k: t = ggml_type::q4_0; break;
    case ggml_type::q4_k: t = ggml_type::q5_0; break;
    case ggml_type::q5_k: t = ggml_type::q5_1; break;
    case ggml_type::q6_k: t = ggml_type::q8_0; break;
    default: break;
  }
  return ncols % ggml_type_info(static_cast<uint32_t>(t))->block_size == 0 ? t : ggml_type::f16;
}

}  // namespace

const std::vector<quant_mix>& quant_mixes() {
  static const std::vector<quant_mix> mixes = {
      {"f16", f16, ggml_type::f16},         {"q8_0", q8_0, ggml_type::q8_0},     {"q4_0", q4_0, ggml_type::q4_0},
      {"q4_1", q4_1, ggml_type::q4_1},      {"q5_0", q5_0, ggml_type::q5_0},     {"q5_1", q5_1, ggml_type::q5_1},
      {"q2_k", q2_k, ggml_type::q2_k},      {"q3_k_s", q3_k_s, ggml_type::q3_k}, {"q3_k_m", q3_k_m, ggml_type::q3_k},
      {"q3_k_l", q3_k_l, ggml_type::q3_k},  {"q4_k_s", q4_k_s, ggml_type::q4_k}, {"q4_k_m", q4_k_m, ggml_type::q4_k},
      {"q5_k_s", q5_k_s, ggml_type::q5_k},  {"q5_k_m", q5_k_m, ggml_type::q5_k}, {"q6_k", q6_k, ggml_type::q6_k},
      {"iq4_nl", iq4_nl, ggml_type::iq4_nl}, {"iq4_xs", iq4_xs, ggml_type::iq4_xs},
  };
  return mixes;
}

std::optional<quant_mix> find_quant_mix(std::string_view name) {
  for (const quant_mix& m : quant_mixes()) if (m.name == name) return m;
  return std::nullopt;
}

std::string quant_mix_names() {
  std::string names;
  for (const quant_mix& m : quant_mixes()) names += (names.empty() ? "" : ", ") + std::string(m.name);
  return names;
}

ggml_type mix_tensor_type(const quant_mix& mix, std::string_view name, int64_t ncols, int n_layer, int n_gqa) {
  if (mix.base == ggml_type::f16) return mix.base;  // llama-quantize changes only quantized mixes
  // The output matrix falls back to Q8_0 when its rows do not fit the base type's blocks.
  if (name == "output.weight" && ncols % ggml_type_info(static_cast<uint32_t>(mix.base))->block_size != 0) {
    return ggml_type::q8_0;
  }
  return fallback(mix_rule_type(mix, name, n_layer, n_gqa), ncols);
}

ggml_type mix_rule_type(const quant_mix& mix, std::string_view name, int n_layer, int n_gqa) {
  if (mix.base == ggml_type::f16) return mix.base;
  return rule(mix.file_type, mix.base, name, n_layer, n_gqa, mix.imatrix);
}

}  // namespace hearth

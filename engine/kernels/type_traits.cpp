#include "kernels/type_traits.h"

#include <array>
#include <string>

#include "kernels/quant_blocks.h"

namespace hearth::kernels {

// The rows, one per type, each defined in its file under kernels/types/.
extern const type_traits f32_traits, f16_traits, bf16_traits;
extern const type_traits q8_0_traits, q4_0_traits, q4_1_traits, q5_0_traits, q5_1_traits, iq4_nl_traits;
extern const type_traits q2_k_traits, q3_k_traits, q4_k_traits, q5_k_traits, q6_k_traits, iq4_xs_traits;

namespace {

constexpr const type_traits* table[] = {
    &f32_traits,  &f16_traits,  &bf16_traits, &q8_0_traits, &q4_0_traits,   &q4_1_traits,
    &q5_0_traits, &q5_1_traits, &q2_k_traits, &q3_k_traits, &q4_k_traits,   &q5_k_traits,
    &q6_k_traits, &iq4_nl_traits, &iq4_xs_traits,
};

constexpr act_format_traits formats[act_format_count] = {
    {act_format::f32, "f32", 1, 4},
    {act_format::f16, "f16", 1, 2},
    {act_format::bf16, "bf16", 1, 2},
    {act_format::q8, "q8", 32, sizeof(block_q8_act)},
    {act_format::q8_k, "q8_k", qk_k, sizeof(block_q8_k_act)},
};

const std::array<const type_traits*, ggml_type_slots>& by_id() {
  static const std::array<const type_traits*, ggml_type_slots> index = [] {
    std::array<const type_traits*, ggml_type_slots> a{};
    for (const type_traits* t : table) a[static_cast<uint32_t>(t->type)] = t;
    return a;
  }();
  return index;
}

}  // namespace

const act_format_traits& act_format_info(act_format f) { return formats[static_cast<int>(f)]; }

size_t act_row_bytes(act_format f, int64_t k) {
  const act_format_traits& a = act_format_info(f);
  return static_cast<size_t>(k / a.block) * a.block_bytes;
}

const type_traits* type_traits_of(ggml_type t) {
  const auto id = static_cast<uint32_t>(t);
  return id < ggml_type_slots ? by_id()[id] : nullptr;
}

std::span<const type_traits* const> all_type_traits() { return table; }

const char* supported_type_names() {
  static const std::string names = [] {
    std::string s;
    for (const type_traits* t : table) s += (s.empty() ? "" : ", ") + std::string(ggml_type_name(t->type));
    return s;
  }();
  return names.c_str();
}

}  // namespace hearth::kernels

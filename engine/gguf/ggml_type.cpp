#include "gguf/ggml_type.h"

namespace hearth {

std::optional<ggml_type_traits> ggml_type_info(uint32_t id) {
  switch (static_cast<ggml_type>(id)) {
    case ggml_type::f32: return ggml_type_traits{"F32", 1, 4};
    case ggml_type::f16: return ggml_type_traits{"F16", 1, 2};
    case ggml_type::q4_0: return ggml_type_traits{"Q4_0", 32, 18};
    case ggml_type::q4_1: return ggml_type_traits{"Q4_1", 32, 20};
    case ggml_type::q5_0: return ggml_type_traits{"Q5_0", 32, 22};
    case ggml_type::q5_1: return ggml_type_traits{"Q5_1", 32, 24};
    case ggml_type::q8_0: return ggml_type_traits{"Q8_0", 32, 34};
    case ggml_type::q8_1: return ggml_type_traits{"Q8_1", 32, 36};
    case ggml_type::q2_k: return ggml_type_traits{"Q2_K", 256, 84};
    case ggml_type::q3_k: return ggml_type_traits{"Q3_K", 256, 110};
    case ggml_type::q4_k: return ggml_type_traits{"Q4_K", 256, 144};
    case ggml_type::q5_k: return ggml_type_traits{"Q5_K", 256, 176};
    case ggml_type::q6_k: return ggml_type_traits{"Q6_K", 256, 210};
    case ggml_type::q8_k: return ggml_type_traits{"Q8_K", 256, 292};
    case ggml_type::iq2_xxs: return ggml_type_traits{"IQ2_XXS", 256, 66};
    case ggml_type::iq2_xs: return ggml_type_traits{"IQ2_XS", 256, 74};
    case ggml_type::iq3_xxs: return ggml_type_traits{"IQ3_XXS", 256, 98};
    case ggml_type::iq1_s: return ggml_type_traits{"IQ1_S", 256, 50};
    case ggml_type::iq4_nl: return ggml_type_traits{"IQ4_NL", 32, 18};
    case ggml_type::iq3_s: return ggml_type_traits{"IQ3_S", 256, 110};
    case ggml_type::iq2_s: return ggml_type_traits{"IQ2_S", 256, 82};
    case ggml_type::iq4_xs: return ggml_type_traits{"IQ4_XS", 256, 136};
    case ggml_type::i8: return ggml_type_traits{"I8", 1, 1};
    case ggml_type::i16: return ggml_type_traits{"I16", 1, 2};
    case ggml_type::i32: return ggml_type_traits{"I32", 1, 4};
    case ggml_type::i64: return ggml_type_traits{"I64", 1, 8};
    case ggml_type::f64: return ggml_type_traits{"F64", 1, 8};
    case ggml_type::iq1_m: return ggml_type_traits{"IQ1_M", 256, 56};
    case ggml_type::bf16: return ggml_type_traits{"BF16", 1, 2};
    case ggml_type::tq1_0: return ggml_type_traits{"TQ1_0", 256, 54};
    case ggml_type::tq2_0: return ggml_type_traits{"TQ2_0", 256, 66};
    case ggml_type::mxfp4: return ggml_type_traits{"MXFP4", 32, 17};
  }
  return std::nullopt;
}

std::string_view ggml_type_name(ggml_type t) {
  auto info = ggml_type_info(static_cast<uint32_t>(t));
  return info ? info->name : std::string_view("unknown");
}

size_t ggml_row_size(ggml_type t, int64_t n) {
  auto info = ggml_type_info(static_cast<uint32_t>(t));
  return info ? static_cast<size_t>(n / info->block_size) * info->type_size : 0;
}

}  // namespace hearth

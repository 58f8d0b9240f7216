#pragma once
// The tensor element types of the GGUF/ggml format: ids, names and block geometry.
// Ids are the on-disk values; ids ggml retired are absent and read as unknown.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hearth {

enum class ggml_type : uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15,
  iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22,
  iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30,
  tq1_0 = 34, tq2_0 = 35, mxfp4 = 39,
};
// One more than the largest id: the size of tables indexed by type id.
constexpr int ggml_type_slots = 40;

struct ggml_type_traits {
  std::string_view name;
  int64_t block_size;  // elements per block
  size_t type_size;    // bytes per block
};

// Traits of a known type id, or nullopt for an id this build does not know.
std::optional<ggml_type_traits> ggml_type_info(uint32_t id);
std::string_view ggml_type_name(ggml_type t);

// Bytes of one row of n elements; n must be a multiple of the block size.
size_t ggml_row_size(ggml_type t, int64_t n);

}  // namespace hearth

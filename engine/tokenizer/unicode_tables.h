#pragma once
// The layout of the generated Unicode tables (unicode_tables.cpp, written by
// scripts/gen-unicode-tables). Only unicode.cpp reads them; everything else asks unicode.h.
#include <cstddef>
#include <cstdint>

#include "tokenizer/unicode.h"

namespace hearth::unicode_data {

struct category_range {
  uint32_t first;  // runs to the next range's first; the last range runs to U+10FFFF
  unicode_category category;
};

struct code_point_range {
  uint32_t first, last;  // inclusive
};

// Every stride-th code point in [first, last] maps to itself + delta.
struct delta_run {
  uint32_t first, last;
  uint32_t stride;
  int32_t delta;
};

struct decomposition {
  uint32_t code_point;
  uint32_t offset, length;  // into decomposition_pool
};

extern const char version[];
extern const category_range category_ranges[];
extern const size_t category_range_count;
extern const code_point_range white_space[];
extern const size_t white_space_count;
extern const delta_run case_fold[];
extern const size_t case_fold_count;
extern const delta_run lowercase[];
extern const size_t lowercase_count;
extern const decomposition decompositions[];
extern const size_t decomposition_count;
extern const uint32_t decomposition_pool[];

}  // namespace hearth::unicode_data

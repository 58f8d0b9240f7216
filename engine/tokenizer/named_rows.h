#pragma once
// Lookups in the tokenizer's small constant tables (tokenizer kinds, pre-tokenizers), whose rows
// are found by a name column.
#include <cstddef>
#include <string>
#include <string_view>

namespace hearth {

// The first row whose `column` is `name`, or nullptr.
template <class Row, size_t N>
const Row* find_row(const Row (&rows)[N], std::string_view Row::*column, std::string_view name) {
  for (const Row& r : rows) {
    if (r.*column == name) return &r;
  }
  return nullptr;
}

// "a, b, c": every row's `column`, for error messages.
template <class Row, size_t N>
std::string row_names(const Row (&rows)[N], std::string_view Row::*column) {
  std::string out;
  for (const Row& r : rows) {
    if (!out.empty()) out += ", ";
    out += r.*column;
  }
  return out;
}

}  // namespace hearth

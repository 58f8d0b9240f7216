#pragma once
// Jinja2's built-in filters (`x | trim`, `x | tojson(indent=2)` ...) and Hugging Face's tojson.
#include <string_view>

#include "proto/jinja/ast.h"

namespace hearth::jinja {

// One row of a filter table (filters.cpp: the value filters; filters_sequence.cpp: the sequence
// filters).
struct filter_entry {
  std::string_view name;
  filter_fn fn;
};

// The filter named `name`, or null.
filter_fn find_filter(std::string_view name);

}  // namespace hearth::jinja

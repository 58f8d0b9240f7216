#pragma once
// Jinja2's tests (`x is defined`, `x is string`, `n is divisibleby 3` ...).
#include <string_view>

#include "proto/jinja/ast.h"

namespace hearth::jinja {

// The test named `name`, or null.
test_fn find_test(std::string_view name);

}  // namespace hearth::jinja

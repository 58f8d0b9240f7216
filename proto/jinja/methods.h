#pragma once
// Methods of str, list and dict values that templates call: "x".strip(), d.get(k), d.items() ...
//
// The sandbox (Jinja2's ImmutableSandboxedEnvironment) refuses the methods that mutate a list or
// dict (append, pop, update ...): looking one up gives an unsafe undefined value, and calling
// that is a SecurityError, as in Jinja2.
#include <string_view>

#include "proto/jinja/objects.h"

namespace hearth::jinja {

// The method `name` of self (a str, list or dict), or null. `unsafe` is set when the method
// exists but the sandbox refuses it.
method_fn find_method(const value& self, std::string_view name, bool& unsafe);

}  // namespace hearth::jinja

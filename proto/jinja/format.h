#pragma once
// Python's two string formatting languages: printf-style ("%s and %d" % (a, b), the format
// filter) and str.format ("{} {name!r:>10}".format(...), through the sandbox's attribute rules).
// Substituted strings keep their user marks.
#include "proto/jinja/object.h"
#include "proto/jinja/text.h"
#include "proto/jinja/value.h"

namespace hearth::jinja {

class interpreter;

// Bounds on widths and precisions in both languages, so a format cannot ask for an unbounded
// string.
constexpr int64_t max_format_field = 100000;

// fmt % args: args is a tuple of values, a dict (for "%(name)s"), or a single value.
text percent_format(interpreter& in, const text& fmt, const value& args);

// fmt.format(*args, **kwargs).
text brace_format(interpreter& in, const text& fmt, const call_args& args);

}  // namespace hearth::jinja

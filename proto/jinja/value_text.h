#pragma once
// Values as Python writes them: str() for {{ v }}, ~ and the string filter; repr() for the
// elements of a printed list or dict ({{ [1, 'a'] }} is "[1, 'a']").
//
// User marks: a string keeps its own; the repr of a container holding any user string is user
// text as a whole.
#include <string>

#include "proto/jinja/text.h"
#include "proto/jinja/value.h"

namespace hearth::jinja {

// str(v): undefined prints as "", None as "None", True as "True", 1.0 as "1.0".
void append_str(text& out, const value& v);
text to_str(const value& v);
// The same, for values known not to be strings (numbers, None ...); no marks.
std::string to_plain_str(const value& v);

// repr(v). Containers deeper than max_value_depth cannot exist; objects bound the recursion
// through `depth`.
void append_repr(text& out, const value& v, int depth = 0);

// Python's repr of a float: the shortest text that reads back to the same double, in fixed
// notation for exponents -4..15 ("0.0001", "1e-05", "1e+16", "2.0"), "inf", "nan".
std::string float_repr(double d);
// repr of a string, quoted and escaped as Python does.
void append_string_repr(text& out, const text& s);

}  // namespace hearth::jinja

#pragma once
// Python's arithmetic on template values: + - * / // % ** and unary - +, with Python's results
// (int / int is a float, // and % round toward negative infinity, "ab" * 2, [1] + [2],
// "%s" % x). Integers are 64-bit: overflow is an error. Using an undefined operand is an
// UndefinedError, as in Jinja2.
#include "proto/jinja/ast.h"
#include "proto/jinja/value.h"

namespace hearth::jinja {

class interpreter;

value arithmetic(interpreter& in, binary_op op, const value& a, const value& b);
value negate(const value& v);
value unary_plus(const value& v);

}  // namespace hearth::jinja

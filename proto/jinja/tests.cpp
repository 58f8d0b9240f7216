#include "proto/jinja/tests.h"

#include "proto/jinja/compare.h"
#include "proto/jinja/error.h"
#include "proto/jinja/filters.h"
#include "proto/jinja/interpreter.h"
#include "proto/jinja/string_ops.h"
#include "proto/jinja/value_text.h"

namespace hearth::jinja {

namespace {

const value& argument(const call_args& a, std::string_view test) {
  if (a.positional.size() + a.keyword.size() != 1) {
    type_error("test '" + std::string(test) + "' takes exactly one argument");
  }
  return a.positional.empty() ? a.keyword.front().second : a.positional.front();
}

void no_arguments(const call_args& a, std::string_view test) {
  if (!a.positional.empty() || !a.keyword.empty()) type_error("test '" + std::string(test) + "' takes no arguments");
}

#define SIMPLE_TEST(name, expr)                                        \
  bool t_##name(interpreter&, const value& v, const call_args& a) {    \
    no_arguments(a, #name);                                            \
    (void)v;                                                           \
    return expr;                                                       \
  }

SIMPLE_TEST(defined, !v.is_undefined())
SIMPLE_TEST(undefined, v.is_undefined())
SIMPLE_TEST(none, v.is_none())
SIMPLE_TEST(boolean, v.is_bool())
SIMPLE_TEST(false, v.is_bool() && !v.as_bool())
SIMPLE_TEST(true, v.is_bool() && v.as_bool())
SIMPLE_TEST(integer, v.is_int())
SIMPLE_TEST(float, v.is_float())
SIMPLE_TEST(number, v.is_number())
SIMPLE_TEST(string, v.is_string())
SIMPLE_TEST(mapping, v.is_dict())
SIMPLE_TEST(sequence, v.is_string() || v.is_dict() || v.is_undefined() || (v.is_list() && !v.as_list().generator))
SIMPLE_TEST(iterable, v.is_string() || v.is_dict() || v.is_list() || v.is_undefined())
SIMPLE_TEST(callable, v.is_undefined() || (v.is_object() && v.as_object()->callable()))
SIMPLE_TEST(escaped, false)  // no value is Markup here: nothing is auto-escaped

int64_t integer_of(const value& v, std::string_view test) {
  if (v.is_undefined()) interpreter::undefined_error(v);
  if (!v.is_int() && !v.is_bool()) type_error("test '" + std::string(test) + "' needs an integer, not " + std::string(type_name(v)));
  return v.as_int();
}

bool t_odd(interpreter&, const value& v, const call_args& a) {
  no_arguments(a, "odd");
  return integer_of(v, "odd") % 2 != 0;
}

bool t_even(interpreter&, const value& v, const call_args& a) {
  no_arguments(a, "even");
  return integer_of(v, "even") % 2 == 0;
}

bool t_divisibleby(interpreter&, const value& v, const call_args& a) {
  const int64_t n = integer_of(argument(a, "divisibleby"), "divisibleby");
  if (n == 0) fail("ZeroDivisionError", "integer division or modulo by zero");
  return n == -1 || integer_of(v, "divisibleby") % n == 0;
}

bool t_eq(interpreter&, const value& v, const call_args& a) { return equals(v, argument(a, "eq")); }
bool t_ne(interpreter&, const value& v, const call_args& a) { return !equals(v, argument(a, "ne")); }
bool t_lt(interpreter&, const value& v, const call_args& a) { return compare(v, argument(a, "lt"), "<") < 0; }
bool t_le(interpreter&, const value& v, const call_args& a) { return compare(v, argument(a, "le"), "<=") <= 0; }
bool t_gt(interpreter&, const value& v, const call_args& a) { return compare(v, argument(a, "gt"), ">") > 0; }
bool t_ge(interpreter&, const value& v, const call_args& a) { return compare(v, argument(a, "ge"), ">=") >= 0; }
bool t_in(interpreter&, const value& v, const call_args& a) { return contains(argument(a, "in"), v); }

// Python's `is`: the same object (None and the booleans are singletons).
bool t_sameas(interpreter&, const value& v, const call_args& a) {
  const value& o = argument(a, "sameas");
  if (v.type() != o.type()) return false;
  switch (v.type()) {
    case value::kind::none: return true;
    case value::kind::boolean: return v.as_bool() == o.as_bool();
    case value::kind::string: return v.text_ptr() == o.text_ptr();
    case value::kind::list: return &v.as_list() == &o.as_list();
    case value::kind::dict: return &v.as_dict() == &o.as_dict();
    case value::kind::object: return v.as_object() == o.as_object();
    default: return false;
  }
}

template <bool upper>
bool t_case(interpreter&, const value& v, const call_args& a) {
  no_arguments(a, upper ? "upper" : "lower");
  return strings::all_cased_as(to_str(v).view(), upper);
}

bool t_filter(interpreter&, const value& v, const call_args& a) {
  no_arguments(a, "filter");
  return v.is_string() && find_filter(v.str()) != nullptr;
}

bool t_test(interpreter&, const value& v, const call_args& a) {
  no_arguments(a, "test");
  return v.is_string() && find_test(v.str()) != nullptr;
}

struct test_entry {
  std::string_view name;
  test_fn fn;
};

constexpr test_entry tests[] = {
    {"defined", t_defined},   {"undefined", t_undefined}, {"none", t_none},
    {"boolean", t_boolean},   {"false", t_false},         {"true", t_true},
    {"integer", t_integer},   {"float", t_float},         {"number", t_number},
    {"string", t_string},     {"mapping", t_mapping},     {"sequence", t_sequence},
    {"iterable", t_iterable}, {"callable", t_callable},   {"escaped", t_escaped},
    {"odd", t_odd},           {"even", t_even},           {"divisibleby", t_divisibleby},
    {"eq", t_eq},             {"equalto", t_eq},          {"==", t_eq},
    {"ne", t_ne},             {"!=", t_ne},               {"lt", t_lt},
    {"lessthan", t_lt},       {"<", t_lt},                {"le", t_le},
    {"<=", t_le},             {"gt", t_gt},               {"greaterthan", t_gt},
    {">", t_gt},              {"ge", t_ge},               {">=", t_ge},
    {"in", t_in},             {"sameas", t_sameas},       {"lower", t_case<false>},
    {"upper", t_case<true>},  {"filter", t_filter},       {"test", t_test},
};

}  // namespace

test_fn find_test(std::string_view name) {
  for (const test_entry& t : tests) {
    if (t.name == name) return t.fn;
  }
  return nullptr;
}

}  // namespace hearth::jinja

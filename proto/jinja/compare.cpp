#include "proto/jinja/compare.h"

#include "proto/jinja/error.h"
#include "proto/jinja/object.h"

namespace hearth::jinja {

bool truthy(const value& v) {
  switch (v.type()) {
    case value::kind::undefined:
    case value::kind::none: return false;
    case value::kind::boolean: return v.as_bool();
    case value::kind::integer: return v.as_int() != 0;
    case value::kind::floating: return v.as_float() != 0.0;
    case value::kind::string: return !v.str().empty();
    case value::kind::list: {
      const list_data& l = v.as_list();
      return l.generator || !l.items.empty();  // a generator object is always true
    }
    case value::kind::dict: return !v.as_dict().items.empty();
    case value::kind::object: return true;
  }
  return true;
}

namespace {

bool numbers_equal(const value& a, const value& b) {
  if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
  return a.as_int() == b.as_int();
}

bool dicts_equal(const dict_data& a, const dict_data& b) {
  if (a.items.size() != b.items.size()) return false;
  for (const auto& [k, v] : a.items) {
    const value* other = b.find(k);
    if (!other || !equals(v, *other)) return false;
  }
  return true;
}

}  // namespace

bool equals(const value& a, const value& b) {
  if (a.is_number() && b.is_number()) return numbers_equal(a, b);
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case value::kind::undefined:
    case value::kind::none: return true;
    case value::kind::string: return a.str() == b.str();
    case value::kind::list: {
      const list_data& x = a.as_list();
      const list_data& y = b.as_list();
      if (x.generator || y.generator) return &x == &y;
      if (x.tuple != y.tuple || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!equals(x.items[i], y.items[i])) return false;
      }
      return true;
    }
    case value::kind::dict: return dicts_equal(a.as_dict(), b.as_dict());
    case value::kind::object: return a.as_object() == b.as_object();
    default: return false;
  }
}

namespace {

[[noreturn]] void unorderable(const value& a, const value& b, std::string_view op) {
  if (a.is_undefined() || b.is_undefined()) {
    fail(a.undefined_unsafe() || b.undefined_unsafe() ? "SecurityError" : "UndefinedError",
         a.is_undefined() ? a.undefined_hint() : b.undefined_hint());
  }
  type_error("'" + std::string(op) + "' not supported between instances of '" +
             std::string(type_name(a)) + "' and '" + std::string(type_name(b)) + "'");
}

int sign(double d) { return d < 0 ? -1 : d > 0 ? 1 : 0; }

}  // namespace

int compare(const value& a, const value& b, std::string_view op) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.as_float(), y = b.as_float();
      return x < y ? -1 : x > y ? 1 : 0;  // NaN compares as equal here; Python says all false
    }
    const int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) return sign(a.str().compare(b.str()));  // UTF-8 keeps code point order
  if (a.is_list() && b.is_list()) {
    const list_data& x = a.as_list();
    const list_data& y = b.as_list();
    if (x.tuple != y.tuple || x.generator || y.generator) unorderable(a, b, op);
    const size_t n = std::min(x.items.size(), y.items.size());
    for (size_t i = 0; i < n; ++i) {
      if (!equals(x.items[i], y.items[i])) return compare(x.items[i], y.items[i], op);
    }
    return x.items.size() < y.items.size() ? -1 : x.items.size() > y.items.size() ? 1 : 0;
  }
  unorderable(a, b, op);
}

bool contains(const value& haystack, const value& needle) {
  switch (haystack.type()) {
    case value::kind::undefined: return false;
    case value::kind::string:
      if (!needle.is_string()) {
        type_error("'in <string>' requires string as left operand, not " +
                   std::string(type_name(needle)));
      }
      return haystack.str().find(needle.str()) != std::string::npos;
    case value::kind::list:
      for (const value& v : haystack.as_list().items) {
        if (equals(v, needle)) return true;
      }
      return false;
    case value::kind::dict: return haystack.as_dict().find(needle) != nullptr;
    default:
      type_error("argument of type '" + std::string(type_name(haystack)) + "' is not iterable");
  }
}

}  // namespace hearth::jinja

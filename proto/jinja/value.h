#pragma once
// The values a template computes with, as Jinja2 sees them from Python: None, bool, int
// (64-bit here; overflow is an error), float, str (a jinja::text, which carries its user
// ranges), list, tuple, dict (insertion-ordered), Jinja's Undefined, and interpreter objects
// (namespaces, loop contexts, macros, functions; see object.h).
//
// Strings, lists and dicts are immutable and shared: copying a value is cheap. Containers record
// their nesting depth and refuse to nest deeper than max_value_depth, so every recursive walk
// over a value (printing, serializing, comparing, destroying) is bounded. Objects are owned by
// the render that made them (or are static); a value holding one must not outlive that render.
//
// Immutable values are safe to share between threads; objects are not.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "proto/jinja/text.h"

namespace hearth::jinja {

class value;
class object;

inline constexpr uint32_t max_value_depth = 128;

struct list_data {
  std::vector<value> items;
  bool tuple = false;
  // A one-shot iterator (what map, select, items, reverse ... return in Jinja2): it iterates once,
  // has no length, cannot be indexed or serialized.
  bool generator = false;
  mutable bool consumed = false;  // generators only: iterated already
  uint32_t depth = 1;
};

struct dict_data {
  std::vector<std::pair<value, value>> items;  // insertion order; keys are unique
  uint32_t depth = 1;
  // String key -> position, for dicts large enough that a linear search would show.
  std::unordered_map<std::string_view, size_t> index;

  const value* find(const value& key) const;
  const value* find(std::string_view key) const;
};

struct undefined_data {
  std::string hint;     // the error message when the undefined value is used
  bool unsafe = false;  // the sandbox refused an attribute: a SecurityError, not UndefinedError
};

class value {
 public:
  enum class kind : uint8_t { undefined, none, boolean, integer, floating, string, list, dict, object };

  value() = default;  // undefined, with a generic hint
  static value undefined(std::string hint, bool unsafe = false);
  static value none();
  static value boolean(bool b);
  static value integer(int64_t i);
  static value floating(double d);
  static value string(text t);
  static value string(std::string_view s, bool user = false);
  static value string(std::shared_ptr<const text> t);
  // The container constructors throw (a render error) past max_value_depth.
  static value list(std::vector<value> items);
  static value tuple(std::vector<value> items);
  static value generator(std::vector<value> items);
  // Later duplicates of a key replace the value but keep the first position (Python dicts);
  // keys_unique skips that check for sources whose keys are known to differ (JSON objects).
  static value dict(std::vector<std::pair<value, value>> items, bool keys_unique = false);
  static value from_object(object* o);

  kind type() const { return static_cast<kind>(v_.index()); }
  bool is_undefined() const { return type() == kind::undefined; }
  bool is_none() const { return type() == kind::none; }
  bool is_bool() const { return type() == kind::boolean; }
  bool is_int() const { return type() == kind::integer; }
  bool is_float() const { return type() == kind::floating; }
  // int, float or bool (a bool is an int in Python arithmetic).
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return type() == kind::string; }
  bool is_list() const { return type() == kind::list; }  // list, tuple or generator
  bool is_dict() const { return type() == kind::dict; }
  bool is_object() const { return type() == kind::object; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const;   // int or bool
  double as_float() const;  // int, float or bool
  const text& as_text() const { return *std::get<str_ref>(v_); }
  const std::string& str() const { return as_text().str(); }
  const std::shared_ptr<const text>& text_ptr() const { return std::get<str_ref>(v_); }
  const list_data& as_list() const { return *std::get<list_ref>(v_); }
  const std::shared_ptr<const list_data>& list_ptr() const { return std::get<list_ref>(v_); }
  const dict_data& as_dict() const { return *std::get<dict_ref>(v_); }
  object* as_object() const { return std::get<object*>(v_); }
  // The message for using this undefined value (only for undefined values).
  std::string undefined_hint() const;
  bool undefined_unsafe() const;

  // Nesting depth: 0 for scalars, 1 + the deepest element for containers.
  uint32_t depth() const;

 private:
  using undef_ref = std::shared_ptr<const undefined_data>;
  using str_ref = std::shared_ptr<const text>;
  using list_ref = std::shared_ptr<const list_data>;
  using dict_ref = std::shared_ptr<const dict_data>;
  // The index of each alternative is its kind.
  std::variant<undef_ref, std::monostate, bool, int64_t, double, str_ref, list_ref, dict_ref, object*> v_;

  static value make_list(std::vector<value> items, bool tuple, bool generator);
};

// Python's type name ("str", "dict", "NoneType" ...), for error messages.
std::string_view type_name(const value& v);
// Jinja2's object_type_repr: "dict object", "None", for undefined-attribute messages.
std::string object_type_repr(const value& v);

}  // namespace hearth::jinja

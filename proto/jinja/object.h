#pragma once
// Interpreter objects: the values that are not data (namespace(), the loop variable, macros,
// built-in functions, bound methods). Each render owns the objects it creates; built-in
// functions are static and stateless.
//
// Not thread-safe: an object belongs to one render.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/jinja/value.h"

namespace hearth::jinja {

class interpreter;

// The arguments of a call, after evaluation (and after *args / **kwargs were spread).
struct call_args {
  std::vector<value> positional;
  std::vector<std::pair<std::string, value>> keyword;

  // The keyword argument `name`, or nullptr.
  const value* keyword_arg(std::string_view name) const;
};

class object {
 public:
  virtual ~object() = default;
  // Python's name of the type, for messages ("Namespace", "Macro", "builtin_function_or_method").
  virtual std::string_view type_name() const = 0;
  // obj.name; undefined (with Jinja2's message) when there is no such attribute.
  virtual value attribute(interpreter& in, std::string_view name);
  virtual bool callable() const { return false; }
  virtual value call(interpreter& in, call_args& args);
  // What Python's repr() shows. `depth` bounds recursion through contained values.
  virtual void repr(text& out, int depth) const;
  // obj.name = v, for `{% set ns.name = v %}`; false if the object does not allow it.
  virtual bool assign(std::string_view name, value v);
};

// Binds call arguments to parameter names as Python does for a function
// f(name0, name1=..., ...): positional first, then keywords; an unknown keyword, a second value
// for one parameter or too many positional arguments is a TypeError naming `function`.
class arg_binder {
 public:
  arg_binder(std::string_view function, const call_args& args, std::initializer_list<std::string_view> names);
  // The argument bound to parameter i, or nullptr when not given.
  const value* get(size_t i) const { return bound_[i]; }
  const value& get_or(size_t i, const value& fallback) const { return bound_[i] ? *bound_[i] : fallback; }
  // The argument for parameter i; a TypeError when it was not given.
  const value& require(size_t i) const;

 private:
  std::string function_;
  std::vector<std::string_view> names_;
  std::vector<const value*> bound_;
};

}  // namespace hearth::jinja

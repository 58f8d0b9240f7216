#pragma once
// The interpreter's objects (object.h): namespace(), the loop variable, macros, built-in
// functions and bound methods. Owned by the render that made them (interpreter::make), except
// the built-in functions, which are static.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/jinja/ast.h"
#include "proto/jinja/object.h"

namespace hearth::jinja {

struct frame;

// namespace(...): the one mutable object; {% set ns.x = v %} writes it.
class namespace_object : public object {
 public:
  std::string_view type_name() const override { return "Namespace"; }
  value attribute(interpreter& in, std::string_view name) override;
  void repr(text& out, int depth) const override;
  bool assign(std::string_view name, value v) override;

 private:
  std::vector<std::pair<std::string, value>> attrs_;
};

// `loop` inside a for loop.
class loop_object : public object {
 public:
  loop_object(const for_stmt& n, frame* f, std::shared_ptr<const list_data> items, uint32_t depth)
      : loop_(n), frame_(f), items_(std::move(items)), depth_(depth) {}
  std::string_view type_name() const override { return "LoopContext"; }
  value attribute(interpreter& in, std::string_view name) override;
  bool callable() const override { return loop_.recursive; }
  // loop(items) in a recursive loop: the rendering of the loop body over items, one level deeper.
  value call(interpreter& in, call_args& args) override;
  void repr(text& out, int depth) const override;

  size_t index = 0;  // 0-based, of the current iteration
  std::vector<value> last_changed;  // loop.changed()'s memory
  bool changed_called = false;

 private:
  const for_stmt& loop_;
  frame* frame_;
  std::shared_ptr<const list_data> items_;
  uint32_t depth_;
};

class macro_object : public object {
 public:
  macro_object(const macro_def& def, frame* closure) : def_(def), closure_(closure) {}
  std::string_view type_name() const override { return "Macro"; }
  value attribute(interpreter& in, std::string_view name) override;
  bool callable() const override { return true; }
  value call(interpreter& in, call_args& args) override;
  void repr(text& out, int depth) const override;

 private:
  const macro_def& def_;
  frame* closure_;
};

using function_fn = value (*)(interpreter&, call_args&);

// A built-in global function (range, dict, namespace, raise_exception, strftime_now).
class function_object : public object {
 public:
  constexpr function_object(std::string_view name, function_fn fn) : name_(name), fn_(fn) {}
  std::string_view type_name() const override { return "builtin_function_or_method"; }
  bool callable() const override { return true; }
  value call(interpreter& in, call_args& args) override { return fn_(in, args); }
  void repr(text& out, int depth) const override;

 private:
  std::string_view name_;
  function_fn fn_;
};

using method_fn = value (*)(interpreter&, const value& self, const call_args& args);

// obj.method without a call: calling it later calls the method on obj.
class method_object : public object {
 public:
  method_object(value self, std::string name, method_fn fn) : self_(std::move(self)), name_(std::move(name)), fn_(fn) {}
  std::string_view type_name() const override { return "builtin_function_or_method"; }
  bool callable() const override { return true; }
  value call(interpreter& in, call_args& args) override { return fn_(in, self_, args); }
  void repr(text& out, int depth) const override;

 private:
  value self_;
  std::string name_;
  method_fn fn_;
};

}  // namespace hearth::jinja

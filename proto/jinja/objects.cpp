#include "proto/jinja/objects.h"

#include "proto/jinja/compare.h"
#include "proto/jinja/error.h"
#include "proto/jinja/interpreter.h"
#include "proto/jinja/value_text.h"

namespace hearth::jinja {

// ---- object defaults and arguments ----

value object::attribute(interpreter&, std::string_view name) {
  return value::undefined("'" + std::string(type_name()) + " object' has no attribute '" + std::string(name) + "'");
}

value object::call(interpreter&, call_args&) {
  type_error("'" + std::string(type_name()) + "' object is not callable");
}

void object::repr(text& out, int) const { out.append("<" + std::string(type_name()) + " object>"); }

bool object::assign(std::string_view, value) { return false; }

const value* call_args::keyword_arg(std::string_view name) const {
  for (const auto& [k, v] : keyword) {
    if (k == name) return &v;
  }
  return nullptr;
}

arg_binder::arg_binder(std::string_view function, const call_args& args, std::initializer_list<std::string_view> names)
    : function_(function), names_(names), bound_(names.size(), nullptr) {
  if (args.positional.size() > names_.size()) {
    type_error(function_ + "() takes at most " + std::to_string(names_.size()) + " argument(s) (" +
               std::to_string(args.positional.size()) + " given)");
  }
  for (size_t i = 0; i < args.positional.size(); ++i) bound_[i] = &args.positional[i];
  for (const auto& [k, v] : args.keyword) {
    size_t i = 0;
    while (i < names_.size() && names_[i] != k) ++i;
    if (i == names_.size()) type_error(function_ + "() got an unexpected keyword argument '" + k + "'");
    if (bound_[i]) type_error(function_ + "() got multiple values for argument '" + k + "'");
    bound_[i] = &v;
  }
}

const value& arg_binder::require(size_t i) const {
  if (!bound_[i]) type_error(function_ + "() missing required argument '" + std::string(names_[i]) + "'");
  return *bound_[i];
}

// ---- namespace ----

value namespace_object::attribute(interpreter&, std::string_view name) {
  for (const auto& [k, v] : attrs_) {
    if (k == name) return v;
  }
  return value::undefined("'Namespace object' has no attribute '" + std::string(name) + "'");
}

bool namespace_object::assign(std::string_view name, value v) {
  for (auto& [k, old] : attrs_) {
    if (k == name) {
      old = std::move(v);
      return true;
    }
  }
  attrs_.emplace_back(std::string(name), std::move(v));
  return true;
}

void namespace_object::repr(text& out, int depth) const {
  out.append("<Namespace {");
  for (size_t i = 0; i < attrs_.size(); ++i) {
    if (i) out.append(", ");
    append_string_repr(out, text(attrs_[i].first));
    out.append(": ");
    append_repr(out, attrs_[i].second, depth + 1);
  }
  out.append("}>");
}

// ---- loop ----

namespace {

loop_object& as_loop(const value& self) { return static_cast<loop_object&>(*self.as_object()); }

// loop.cycle(a, b, ...): the argument at the current index, round robin.
value loop_cycle(interpreter&, const value& self, const call_args& args) {
  if (args.positional.empty()) type_error("no items for cycling given");
  return args.positional[as_loop(self).index % args.positional.size()];
}

// loop.changed(*values): true on the first call and whenever the values differ from last time.
value loop_changed(interpreter&, const value& self, const call_args& args) {
  loop_object& l = as_loop(self);
  bool same = l.changed_called && l.last_changed.size() == args.positional.size();
  for (size_t i = 0; same && i < args.positional.size(); ++i) same = equals(l.last_changed[i], args.positional[i]);
  l.changed_called = true;
  l.last_changed = args.positional;
  return value::boolean(!same);
}

}  // namespace

value loop_object::attribute(interpreter& in, std::string_view name) {
  const auto n = static_cast<int64_t>(items_->items.size());
  const auto i = static_cast<int64_t>(index);
  if (name == "index") return value::integer(i + 1);
  if (name == "index0") return value::integer(i);
  if (name == "revindex") return value::integer(n - i);
  if (name == "revindex0") return value::integer(n - i - 1);
  if (name == "first") return value::boolean(i == 0);
  if (name == "last") return value::boolean(i == n - 1);
  if (name == "length") return value::integer(n);
  if (name == "depth") return value::integer(depth_);
  if (name == "depth0") return value::integer(depth_ - 1);
  if (name == "previtem") return i > 0 ? items_->items[index - 1] : value::undefined("there is no previous item");
  if (name == "nextitem") return i + 1 < n ? items_->items[index + 1] : value::undefined("there is no next item");
  if (name == "cycle") return value::from_object(in.make<method_object>(value::from_object(this), "cycle", loop_cycle));
  if (name == "changed") return value::from_object(in.make<method_object>(value::from_object(this), "changed", loop_changed));
  return object::attribute(in, name);
}

value loop_object::call(interpreter& in, call_args& args) {
  if (!loop_.recursive) return object::call(in, args);
  if (args.positional.size() != 1 || !args.keyword.empty()) type_error("loop() takes exactly one argument");
  std::shared_ptr<const list_data> items = in.iterate(args.positional[0]);
  text out;
  if (!items->items.empty()) {
    text* saved = in.swap_output(&out);
    in.run_loop(loop_, frame_, std::move(items), depth_ + 1);
    in.swap_output(saved);
  }
  return value::string(std::move(out));
}

void loop_object::repr(text& out, int) const {
  out.append("<LoopContext " + std::to_string(index + 1) + "/" + std::to_string(items_->items.size()) + ">");
}

// ---- macros, functions, methods ----

value macro_object::attribute(interpreter& in, std::string_view name) {
  if (name == "name") return value::string(def_.name);
  if (name == "arguments") {
    std::vector<value> names;
    for (const std::string& p : def_.param_names) names.push_back(value::string(p));
    return value::tuple(std::move(names));
  }
  return object::attribute(in, name);
}

value macro_object::call(interpreter& in, call_args& args) { return in.call_macro(def_, closure_, args); }

void macro_object::repr(text& out, int) const { out.append("<Macro '" + def_.name + "'>"); }

void function_object::repr(text& out, int) const { out.append("<built-in function " + std::string(name_) + ">"); }

void method_object::repr(text& out, int) const {
  out.append("<built-in method " + name_ + " of " + std::string(jinja::type_name(self_)) + " object>");
}

}  // namespace hearth::jinja

// Expression evaluation, and the sandbox's attribute and item access.
#include "proto/jinja/compare.h"
#include "proto/jinja/error.h"
#include "proto/jinja/filters.h"
#include "proto/jinja/interpreter.h"
#include "proto/jinja/lexer.h"
#include "proto/jinja/methods.h"
#include "proto/jinja/operators.h"
#include "proto/jinja/string_ops.h"
#include "proto/jinja/tests.h"
#include "proto/jinja/value_text.h"

namespace hearth::jinja {

namespace {

// Python attributes such as __class__ exist on every object; the sandbox refuses them all.
bool is_dunder(std::string_view name) { return name.size() > 4 && name.starts_with("__") && name.ends_with("__"); }

value unsafe(const value& obj, std::string_view name) {
  return value::undefined("access to attribute '" + std::string(name) + "' of '" + std::string(type_name(obj)) +
                              "' object is unsafe.",
                          true);
}

value no_attribute(const value& obj, std::string_view name) {
  return value::undefined("'" + object_type_repr(obj) + "' has no attribute '" + std::string(name) + "'");
}

std::optional<int64_t> slice_bound(interpreter& in, const expr* e, frame* f, bool& ok) {
  if (!e) return std::nullopt;
  const value v = in.eval(*e, f);
  if (v.is_none()) return std::nullopt;
  if (!v.is_int() && !v.is_bool()) ok = false;
  return ok ? std::optional<int64_t>(v.as_int()) : std::nullopt;
}

}  // namespace

value interpreter::get_attribute(const value& obj, std::string_view name) {
  if (obj.is_undefined()) undefined_error(obj);
  if (is_dunder(name)) return unsafe(obj, name);
  if (obj.is_object()) return obj.as_object()->attribute(*this, name);
  bool refused = false;
  if (method_fn m = find_method(obj, name, refused)) {
    return value::from_object(make<method_object>(obj, std::string(name), m));
  }
  if (refused) return unsafe(obj, name);
  if (obj.is_dict()) {
    if (const value* v = obj.as_dict().find(name)) return *v;
  }
  return no_attribute(obj, name);
}

value interpreter::get_item(const value& obj, const value& key) {
  if (obj.is_undefined()) undefined_error(obj);
  switch (obj.type()) {
    case value::kind::dict:
      if (const value* v = obj.as_dict().find(key)) return *v;
      break;
    case value::kind::list: {
      const list_data& l = obj.as_list();
      if (l.generator || !(key.is_int() || key.is_bool())) break;
      int64_t i = key.as_int();
      const auto n = static_cast<int64_t>(l.items.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return l.items[static_cast<size_t>(i)];
      break;
    }
    case value::kind::string: {
      if (!(key.is_int() || key.is_bool())) break;
      const int64_t i = key.as_int();
      text c = strings::slice(obj.as_text(), i, i == -1 ? std::nullopt : std::optional<int64_t>(i + 1), 1);
      if (!c.empty()) return value::string(strings::keep_markup(std::move(c), obj.as_text()));
      break;
    }
    default: break;
  }
  // Jinja2 falls back to the attribute of that name.
  if (key.is_string()) {
    if (obj.is_object()) return obj.as_object()->attribute(*this, key.str());
    if (is_dunder(key.str())) return unsafe(obj, key.str());
    bool refused = false;
    if (method_fn m = find_method(obj, key.str(), refused)) return value::from_object(make<method_object>(obj, key.str(), m));
    if (refused) return unsafe(obj, key.str());
    return no_attribute(obj, key.str());
  }
  return value::undefined(object_type_repr(obj) + " has no element " + to_plain_str(key));
}

value interpreter::call(const value& callee, call_args& args) {
  if (callee.is_undefined()) undefined_error(callee);
  if (callee.is_object() && callee.as_object()->callable()) return callee.as_object()->call(*this, args);
  type_error("'" + std::string(type_name(callee)) + "' object is not callable");
}

value interpreter::call_filter(std::string_view name, const value& input, const call_args& args) {
  const filter_fn fn = find_filter(name);
  if (!fn) fail("TemplateRuntimeError", "No filter named '" + std::string(name) + "' found.");
  return fn(*this, input, args);
}

bool interpreter::call_test(std::string_view name, const value& input, const call_args& args) {
  const test_fn fn = find_test(name);
  if (!fn) fail("TemplateRuntimeError", "No test named '" + std::string(name) + "' found.");
  return fn(*this, input, args);
}

call_args interpreter::eval_args(const call_arguments& a, frame* f) {
  call_args out;
  out.positional.reserve(a.positional.size());
  for (const expr_ptr& e : a.positional) out.positional.push_back(eval(*e, f));
  if (a.star) {
    // Held here: a range-for keeps only `->items` alive, not the list iterate() returned.
    const std::shared_ptr<const list_data> star = iterate(eval(*a.star, f));
    for (const value& v : star->items) out.positional.push_back(v);
  }
  for (const auto& [k, e] : a.keyword) out.keyword.emplace_back(k, eval(*e, f));
  if (a.star_star) {
    const value kw = eval(*a.star_star, f);
    if (!kw.is_dict()) type_error("argument after ** must be a mapping, not " + std::string(type_name(kw)));
    for (const auto& [k, v] : kw.as_dict().items) {
      if (!k.is_string()) type_error("keywords must be strings");
      out.keyword.emplace_back(k.str(), v);
    }
  }
  charge(out.positional.size() + out.keyword.size());
  return out;
}

value interpreter::eval(const expr& e, frame* f) {
  depth_guard guard(*this);
  switch (e.kind) {
    case expr_kind::literal: return static_cast<const literal_expr&>(e).v;
    case expr_kind::name: return eval_name(static_cast<const name_expr&>(e), f);
    case expr_kind::list:
    case expr_kind::tuple:
    case expr_kind::dict: return eval_display(e, f);
    case expr_kind::attribute: {
      const auto& a = static_cast<const attribute_expr&>(e);
      return get_attribute(eval(*a.object, f), a.name);
    }
    case expr_kind::item: {
      const auto& i = static_cast<const item_expr&>(e);
      const value obj = eval(*i.object, f);
      if (i.index->kind == expr_kind::slice) return eval_slice(obj, static_cast<const slice_expr&>(*i.index), f);
      return get_item(obj, eval(*i.index, f));
    }
    case expr_kind::slice: fail("TemplateRuntimeError", "a slice outside of a subscript");
    case expr_kind::call: return eval_call(static_cast<const call_expr&>(e), f);
    case expr_kind::filter: return eval_filter(static_cast<const filter_expr&>(e), f);
    case expr_kind::test: return eval_test(static_cast<const test_expr&>(e), f);
    case expr_kind::negate: return negate(eval(*static_cast<const unary_expr&>(e).operand, f));
    case expr_kind::plus: return unary_plus(eval(*static_cast<const unary_expr&>(e).operand, f));
    case expr_kind::not_: return value::boolean(!truthy(eval(*static_cast<const unary_expr&>(e).operand, f)));
    case expr_kind::binary: {
      const auto& b = static_cast<const binary_expr&>(e);
      const value left = eval(*b.left, f);
      return arithmetic(*this, b.op, left, eval(*b.right, f));
    }
    case expr_kind::and_:
    case expr_kind::or_: {
      const auto& b = static_cast<const binary_expr&>(e);
      value left = eval(*b.left, f);
      if (truthy(left) == (e.kind == expr_kind::or_)) return left;
      return eval(*b.right, f);
    }
    case expr_kind::compare: return eval_compare(static_cast<const compare_expr&>(e), f);
    case expr_kind::conditional: return eval_conditional(static_cast<const conditional_expr&>(e), f);
    case expr_kind::concat: {
      text out;  // str() of each part: Markup and undefined become plain text
      for (const expr_ptr& p : static_cast<const concat_expr&>(e).parts) {
        append_str(out, eval(*p, f));
        charge_string(out.size());
      }
      return value::string(std::move(out));
    }
  }
  return value();
}

value interpreter::eval_name(const name_expr& e, frame* f) { return lookup(e.sym, f); }

// [a, b], (a, b) and {k: v} literals.
value interpreter::eval_display(const expr& e, frame* f) {
  if (e.kind != expr_kind::dict) {
    const auto& s = static_cast<const sequence_expr&>(e);
    std::vector<value> items;
    items.reserve(s.items.size());
    for (const expr_ptr& x : s.items) items.push_back(eval(*x, f));
    charge(items.size());
    return e.kind == expr_kind::list ? value::list(std::move(items)) : value::tuple(std::move(items));
  }
  std::vector<std::pair<value, value>> items;
  for (const auto& [k, v] : static_cast<const dict_expr&>(e).items) {
    value key = eval(*k, f);
    if (key.is_list() && !key.as_list().tuple) type_error("unhashable type: 'list'");
    if (key.is_dict()) type_error("unhashable type: 'dict'");
    items.emplace_back(std::move(key), eval(*v, f));
  }
  charge(items.size());
  return value::dict(std::move(items));
}

value interpreter::eval_call(const call_expr& e, frame* f) {
  if (e.callee->kind == expr_kind::attribute) {
    // obj.method(...): call str/list/dict methods directly, without a bound-method object.
    const auto& a = static_cast<const attribute_expr&>(*e.callee);
    const value obj = eval(*a.object, f);
    bool refused = false;
    if (!is_dunder(a.name)) {
      if (method_fn m = find_method(obj, a.name, refused)) return m(*this, obj, eval_args(e.args, f));
    }
    value callee = get_attribute(obj, a.name);
    call_args args = eval_args(e.args, f);
    return call(callee, args);
  }
  const value callee = eval(*e.callee, f);
  call_args args = eval_args(e.args, f);
  return call(callee, args);
}

value interpreter::eval_filter(const filter_expr& e, frame* f) {
  const value input = eval(*e.input, f);
  if (!e.fn) fail("TemplateRuntimeError", "No filter named '" + e.name + "' found.");
  return e.fn(*this, input, eval_args(e.args, f));
}

value interpreter::eval_test(const test_expr& e, frame* f) {
  const value input = eval(*e.input, f);
  if (!e.fn) fail("TemplateRuntimeError", "No test named '" + e.name + "' found.");
  return value::boolean(e.fn(*this, input, eval_args(e.args, f)));
}

value interpreter::eval_compare(const compare_expr& e, frame* f) {
  value left = eval(*e.first, f);
  for (const auto& [op, rhs] : e.rest) {
    value right = eval(*rhs, f);
    bool ok = false;
    switch (op) {
      case compare_op::eq: ok = equals(left, right); break;
      case compare_op::ne: ok = !equals(left, right); break;
      case compare_op::lt: ok = compare(left, right, "<") < 0; break;
      case compare_op::le: ok = compare(left, right, "<=") <= 0; break;
      case compare_op::gt: ok = compare(left, right, ">") > 0; break;
      case compare_op::ge: ok = compare(left, right, ">=") >= 0; break;
      case compare_op::in: ok = contains(right, left); break;
      case compare_op::not_in: ok = !contains(right, left); break;
    }
    if (!ok) return value::boolean(false);
    left = std::move(right);
  }
  return value::boolean(true);
}

value interpreter::eval_slice(const value& obj, const slice_expr& s, frame* f) {
  if (obj.is_undefined()) undefined_error(obj);
  bool ok = true;
  const std::optional<int64_t> start = slice_bound(*this, s.start.get(), f, ok);
  const std::optional<int64_t> stop = slice_bound(*this, s.stop.get(), f, ok);
  const std::optional<int64_t> step = slice_bound(*this, s.step.get(), f, ok);
  const std::string what = "'" + object_type_repr(obj) + "' has no element slice";
  if (!ok) return value::undefined(what);
  if (step && *step == 0) fail("ValueError", "slice step cannot be zero");
  if (obj.is_string()) {
    text out = strings::slice(obj.as_text(), start, stop, step.value_or(1));
    charge_string(out.size());
    return value::string(strings::keep_markup(std::move(out), obj.as_text()));
  }
  if (!obj.is_list() || obj.as_list().generator) return value::undefined(what);
  const list_data& l = obj.as_list();
  const strings::slice_range r = strings::resolve_slice(static_cast<int64_t>(l.items.size()), start, stop, step.value_or(1));
  std::vector<value> items;
  items.reserve(static_cast<size_t>(r.count));
  for (int64_t k = 0, i = r.start; k < r.count; ++k, i += r.step) items.push_back(l.items[static_cast<size_t>(i)]);
  charge(items.size());
  return l.tuple ? value::tuple(std::move(items)) : value::list(std::move(items));
}

value interpreter::eval_conditional(const conditional_expr& e, frame* f) {
  if (truthy(eval(*e.test, f))) return eval(*e.then, f);
  if (e.otherwise) return eval(*e.otherwise, f);
  return value::undefined("the inline if-expression on line " + std::to_string(position_of(prog_.source, e.offset).line) +
                          " evaluated to false and no else section was defined.");
}

}  // namespace hearth::jinja

#include "proto/jinja/interpreter.h"

#include <chrono>
#include <optional>

#include "proto/jinja/compare.h"
#include "proto/jinja/globals.h"
#include "proto/jinja/objects.h"
#include "proto/jinja/unicode.h"
#include "proto/jinja/value_text.h"

namespace hearth::jinja {

const value* frame::find(symbol s) const {
  for (const auto& [k, v] : vars) {
    if (k == s) return &v;
  }
  return nullptr;
}

void frame::set(symbol s, value v) {
  for (auto& [k, old] : vars) {
    if (k == s) {
      old = std::move(v);
      return;
    }
  }
  vars.emplace_back(s, std::move(v));
}

depth_guard::depth_guard(interpreter& in) : in_(in) {
  if (++in_.depth_ > in_.limits().max_depth) {
    fail("LimitError", "the template recursed deeper than " + std::to_string(in_.limits().max_depth) + " levels");
  }
}

interpreter::interpreter(const program_data& prog, const render_options& options)
    : prog_(prog), options_(options) {}

interpreter::~interpreter() = default;

text interpreter::run(const std::vector<std::pair<std::string, value>>& variables) {
  globals_.assign(prog_.symbols.size(), value());
  std::vector<bool> given(prog_.symbols.size());
  for (const auto& [name, v] : variables) {
    auto it = prog_.symbol_ids.find(name);
    if (it == prog_.symbol_ids.end()) continue;  // the template never names it
    globals_[it->second] = v;
    given[it->second] = true;
  }
  for (size_t i = 0; i < globals_.size(); ++i) {
    if (!given[i]) globals_[i] = builtin_global(prog_.symbols[i]);
  }
  text out;
  out_ = &out;
  frame* root = push_frame(nullptr);
  exec(prog_.body, root);
  return out;
}

// ---- scopes ----

frame* interpreter::push_frame(frame* parent) {
  frame* f;
  if (!free_frames_.empty()) {
    f = free_frames_.back();
    free_frames_.pop_back();
  } else {
    frames_.push_back(std::make_unique<frame>());
    f = frames_.back().get();
  }
  f->parent = parent;
  return f;
}

void interpreter::pop_frame(frame* f) {
  if (f->captured) return;
  f->vars.clear();
  free_frames_.push_back(f);
}

void interpreter::keep_frame(frame* f) {
  for (; f && !f->captured; f = f->parent) f->captured = true;
}

value interpreter::lookup(symbol s, const frame* f) const {
  for (; f; f = f->parent) {
    if (const value* v = f->find(s)) return *v;
  }
  const value& g = globals_[s];
  if (g.is_undefined()) return value::undefined("'" + prog_.symbols[s] + "' is undefined");
  return g;
}

void interpreter::assign(const assign_target& t, const value& v, frame* f) {
  switch (t.kind) {
    case assign_target::form::name: f->set(t.sym, v); return;
    case assign_target::form::tuple: {
      const std::shared_ptr<const list_data> items = iterate(v);
      const size_t want = t.items.size(), got = items->items.size();
      if (got > want) fail("ValueError", "too many values to unpack (expected " + std::to_string(want) + ")");
      if (got < want) {
        fail("ValueError", "not enough values to unpack (expected " + std::to_string(want) + ", got " +
                               std::to_string(got) + ")");
      }
      for (size_t i = 0; i < want; ++i) assign(t.items[i], items->items[i], f);
      return;
    }
    case assign_target::form::attribute: {
      const value target = lookup(t.sym, f);
      if (!target.is_object() || !target.as_object()->assign(t.attribute, v)) {
        fail("TemplateRuntimeError", "cannot assign attribute on non-namespace object");
      }
      return;
    }
  }
}

// ---- budgets ----

void interpreter::charge(uint64_t units) {
  work_ += units;
  if (work_ > limits().max_work) {
    fail("LimitError", "the template did more work than allowed (" + std::to_string(limits().max_work) + " units)");
  }
}

void interpreter::charge_string(size_t bytes) {
  if (bytes > limits().max_output) {
    fail("LimitError", "a string grew past " + std::to_string(limits().max_output) + " bytes");
  }
  charge(bytes / 8 + 1);
}

void interpreter::charge_items(size_t n) {
  if (n > limits().max_items) {
    fail("LimitError", "a list grew past " + std::to_string(limits().max_items) + " elements");
  }
  charge(n);
}

std::tm interpreter::now() const {
  if (options_.clock) return options_.clock();
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

void interpreter::undefined_error(const value& undefined) {
  fail(undefined.undefined_unsafe() ? "SecurityError" : "UndefinedError", undefined.undefined_hint());
}

std::shared_ptr<const list_data> interpreter::iterate(const value& v) {
  switch (v.type()) {
    case value::kind::list: {
      const list_data& l = v.as_list();
      if (!l.generator) return v.list_ptr();
      if (l.consumed) return std::make_shared<const list_data>();
      l.consumed = true;
      return v.list_ptr();
    }
    case value::kind::undefined: return std::make_shared<const list_data>();
    case value::kind::dict: {
      auto keys = std::make_shared<list_data>();
      for (const auto& [k, e] : v.as_dict().items) keys->items.push_back(k);
      return keys;
    }
    case value::kind::string: {
      auto chars = std::make_shared<list_data>();
      const text& s = v.as_text();
      for (size_t i = 0; i < s.size();) {
        const size_t n = unicode::decode(s.view(), i).length;
        text c;
        c.append(s, i, i + n);
        chars->items.push_back(value::string(std::move(c)));
        i += n;
      }
      charge(chars->items.size());
      return chars;
    }
    default: type_error("'" + std::string(type_name(v)) + "' object is not iterable");
  }
}

// ---- statements ----

void interpreter::append_output(const value& v) {
  append_str(*out_, v);
  if (out_->size() > limits().max_output) {
    fail("LimitError", "the output grew past " + std::to_string(limits().max_output) + " bytes");
  }
}

flow interpreter::exec(const stmt_list& body, frame* f) {
  for (const stmt_ptr& s : body) {
    const flow fl = exec_one(*s, f);
    if (fl != flow::normal) return fl;
  }
  return flow::normal;
}

flow interpreter::exec_one(const stmt& s, frame* f) {
  depth_guard guard(*this);
  switch (s.kind) {
    case stmt_kind::data: append_output(static_cast<const data_stmt&>(s).text); break;
    case stmt_kind::output: append_output(eval(*static_cast<const output_stmt&>(s).e, f)); break;
    case stmt_kind::if_: {
      const auto& n = static_cast<const if_stmt&>(s);
      for (const auto& [test, body] : n.branches) {
        if (truthy(eval(*test, f))) return exec(body, f);
      }
      return exec(n.otherwise, f);
    }
    case stmt_kind::for_: exec_for(static_cast<const for_stmt&>(s), f); break;
    case stmt_kind::set: {
      const auto& n = static_cast<const set_stmt&>(s);
      assign(n.target, eval(*n.e, f), f);
      break;
    }
    case stmt_kind::set_block: exec_set_block(static_cast<const set_block_stmt&>(s), f); break;
    case stmt_kind::macro: {
      const auto& n = static_cast<const macro_stmt&>(s);
      keep_frame(f);
      f->set(n.def.sym, value::from_object(make<macro_object>(n.def, f)));
      break;
    }
    case stmt_kind::call_block: exec_call_block(static_cast<const call_block_stmt&>(s), f); break;
    case stmt_kind::filter_block: exec_filter_block(static_cast<const filter_block_stmt&>(s), f); break;
    case stmt_kind::scope: exec_scope(static_cast<const scope_stmt&>(s), f); break;
    case stmt_kind::break_: return flow::break_;
    case stmt_kind::continue_: return flow::continue_;
  }
  return flow::normal;
}

text interpreter::capture(const stmt_list& body, frame* parent) {
  text captured;
  text* saved = std::exchange(out_, &captured);
  frame* inner = push_frame(parent);
  exec(body, inner);
  pop_frame(inner);
  out_ = saved;
  return captured;
}

void interpreter::exec_for(const for_stmt& n, frame* f) {
  std::shared_ptr<const list_data> items = iterate(eval(*n.iterable, f));
  if (n.filter) {
    // The filter sees the loop variables but not `loop`.
    auto kept = std::make_shared<list_data>();
    frame* probe = push_frame(f);
    for (const value& item : items->items) {
      charge(1);
      assign(n.target, item, probe);
      if (truthy(eval(*n.filter, probe))) kept->items.push_back(item);
    }
    pop_frame(probe);
    items = std::move(kept);
  }
  if (items->items.empty()) {
    frame* inner = push_frame(f);
    exec(n.otherwise, inner);
    pop_frame(inner);
    return;
  }
  run_loop(n, f, std::move(items), 1);
}

void interpreter::run_loop(const for_stmt& n, frame* f, std::shared_ptr<const list_data> items, uint32_t depth) {
  loop_object* loop = make<loop_object>(n, f, items, depth);
  for (size_t i = 0; i < items->items.size(); ++i) {
    charge(1);
    loop->index = i;
    frame* it = push_frame(f);
    assign(n.target, items->items[i], it);
    it->set(prog_.loop_sym, value::from_object(loop));
    const flow fl = exec(n.body, it);
    pop_frame(it);
    if (fl == flow::break_) break;
  }
}

value interpreter::apply_block_filter(const filter_expr& fe, value body, frame* fr) {
  value input = fe.input ? apply_block_filter(static_cast<const filter_expr&>(*fe.input), std::move(body), fr)
                         : std::move(body);
  if (!fe.fn) fail("TemplateRuntimeError", "No filter named '" + fe.name + "' found.");
  return fe.fn(*this, input, eval_args(fe.args, fr));
}

void interpreter::exec_set_block(const set_block_stmt& n, frame* f) {
  value body = value::string(capture(n.body, f));
  if (n.filter) body = apply_block_filter(*n.filter, std::move(body), f);
  assign(n.target, body, f);
}

void interpreter::exec_filter_block(const filter_block_stmt& n, frame* f) {
  append_output(apply_block_filter(*n.filter, value::string(capture(n.body, f)), f));
}

void interpreter::exec_call_block(const call_block_stmt& n, frame* f) {
  keep_frame(f);
  const value caller = value::from_object(make<macro_object>(n.caller, f));
  value callee;
  if (n.call->callee->kind == expr_kind::attribute) {
    const auto& a = static_cast<const attribute_expr&>(*n.call->callee);
    callee = get_attribute(eval(*a.object, f), a.name);
  } else {
    callee = eval(*n.call->callee, f);
  }
  call_args args = eval_args(n.call->args, f);
  args.keyword.emplace_back("caller", caller);
  append_output(call(callee, args));
}

void interpreter::exec_scope(const scope_stmt& n, frame* f) {
  frame* inner = push_frame(f);
  for (const auto& [target, e] : n.bindings) assign(target, eval(*e, f), inner);
  exec(n.body, inner);
  pop_frame(inner);
}

value interpreter::call_macro(const macro_def& def, frame* closure, call_args& args) {
  if (++calls_ > limits().max_call_depth) {
    fail("LimitError", "macro calls nest deeper than " + std::to_string(limits().max_call_depth) + " levels");
  }
  charge(1);
  frame* f = push_frame(closure);
  const auto take_keyword = [&](std::string_view name) -> std::optional<value> {
    for (auto it = args.keyword.begin(); it != args.keyword.end(); ++it) {
      if (it->first != name) continue;
      value v = std::move(it->second);
      args.keyword.erase(it);
      return v;
    }
    return std::nullopt;
  };
  const size_t n = def.params.size();
  const size_t first_default = n - def.defaults.size();
  for (size_t i = 0; i < n; ++i) {
    if (i < args.positional.size()) {
      f->set(def.params[i], args.positional[i]);
    } else if (std::optional<value> v = take_keyword(def.param_names[i])) {
      f->set(def.params[i], std::move(*v));
    } else if (i >= first_default) {
      f->set(def.params[i], eval(*def.defaults[i - first_default], f));  // may read earlier parameters
    } else {
      f->set(def.params[i], value::undefined("parameter '" + def.param_names[i] + "' was not provided"));
    }
  }
  if (def.uses_caller) {
    std::optional<value> c = take_keyword("caller");
    f->set(prog_.caller_sym, c ? std::move(*c) : value::undefined("No caller defined"));
  }
  if (def.uses_kwargs) {
    std::vector<std::pair<value, value>> extra;
    for (auto& [k, v] : args.keyword) extra.emplace_back(value::string(k), std::move(v));
    f->set(prog_.kwargs_sym, value::dict(std::move(extra)));
  } else if (!args.keyword.empty()) {
    type_error("macro '" + def.name + "' takes no keyword argument '" + args.keyword.front().first + "'");
  }
  if (def.uses_varargs) {
    std::vector<value> rest;
    for (size_t i = n; i < args.positional.size(); ++i) rest.push_back(args.positional[i]);
    f->set(prog_.varargs_sym, value::tuple(std::move(rest)));
  } else if (args.positional.size() > n) {
    type_error("macro '" + def.name + "' takes not more than " + std::to_string(n) + " argument(s)");
  }
  text out;
  text* saved = std::exchange(out_, &out);
  exec(def.body, f);
  out_ = saved;
  pop_frame(f);
  --calls_;
  return value::string(std::move(out));
}

}  // namespace hearth::jinja

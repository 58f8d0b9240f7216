#pragma once
// One render of a parsed template: walks the tree, keeps the scopes, the output and the limits.
// Built-in filters, tests, methods and objects call back into it (attribute access, calls,
// budgets).
//
// Scopes follow Jinja2: the template's top level is one scope; each loop iteration, macro call,
// {% with %}, {% generation %} and block body gets its own, so a `set` there does not leak out
// (namespaces exist to carry values out); a macro sees the scope it was defined in as it is when
// the macro runs.
//
// Single-threaded: one interpreter per render. It owns every object and scope it creates, so
// values never outlive it.
#include <ctime>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/jinja/ast.h"
#include "proto/jinja/jinja.h"
#include "proto/jinja/object.h"

namespace hearth::jinja {

struct frame {
  frame* parent = nullptr;
  std::vector<std::pair<symbol, value>> vars;
  bool captured = false;  // a macro refers to it: never reused

  const value* find(symbol s) const;
  void set(symbol s, value v);
};

enum class flow : uint8_t { normal, break_, continue_ };

class interpreter {
 public:
  interpreter(const program_data& prog, const render_options& options);
  ~interpreter();
  interpreter(const interpreter&) = delete;
  interpreter& operator=(const interpreter&) = delete;

  // Runs the whole template with `variables`; throws failure.
  text run(const std::vector<std::pair<std::string, value>>& variables);

  // ---- evaluation (eval.cpp) ----
  value eval(const expr& e, frame* f);
  call_args eval_args(const call_arguments& a, frame* f);
  // Jinja2's sandboxed getattr (obj.name) and getitem (obj[key]): methods and dict keys, the
  // sandbox's refusals as unsafe undefined values, undefined for anything missing.
  value get_attribute(const value& obj, std::string_view name);
  value get_item(const value& obj, const value& key);
  value call(const value& callee, call_args& args);
  value call_filter(std::string_view name, const value& input, const call_args& args);
  bool call_test(std::string_view name, const value& input, const call_args& args);

  // ---- statements (interpreter.cpp) ----
  flow exec(const stmt_list& body, frame* f);
  // Renders body in a new scope under `parent` into a string.
  text capture(const stmt_list& body, frame* parent);
  // A macro call: binds args to def's parameters (and a "caller" keyword to `caller`) in a
  // scope under closure, renders the body into a string.
  value call_macro(const macro_def& def, frame* closure, call_args& args);
  // The rendering of a for loop over `items` (used again by recursive loop calls).
  void run_loop(const for_stmt& n, frame* f, std::shared_ptr<const list_data> items, uint32_t depth);

  // ---- services for built-ins ----
  // Every loop iteration, call and container or string built spends work; past the budget the
  // render fails. Strings also may not exceed the output limit.
  void charge(uint64_t units);
  void charge_string(size_t bytes);
  // A list of n elements made by concatenation or repetition (the ways one grows geometrically).
  void charge_items(size_t n);
  std::tm now() const;
  template <class T, class... A>
  T* make(A&&... a) {
    auto p = std::make_unique<T>(std::forward<A>(a)...);
    T* raw = p.get();
    objects_.push_back(std::move(p));
    return raw;
  }
  const program_data& program() const { return prog_; }
  // Redirects output (macro bodies, recursive loops render into strings); returns the previous.
  text* swap_output(text* out) { return std::exchange(out_, out); }
  const render_limits& limits() const { return options_.limits; }

  // The elements a for loop would visit: lists and tuples, the keys of a dict, the characters
  // of a string, nothing for undefined; a TypeError for the rest. Consumes a generator.
  std::shared_ptr<const list_data> iterate(const value& v);

  [[noreturn]] static void undefined_error(const value& undefined);

 private:
  friend class depth_guard;

  value lookup(symbol s, const frame* f) const;
  frame* push_frame(frame* parent);
  void pop_frame(frame* f);
  void keep_frame(frame* f);  // a macro captured it (and its parents)
  void assign(const assign_target& t, const value& v, frame* f);
  void append_output(const value& v);

  flow exec_one(const stmt& s, frame* f);
  void exec_for(const for_stmt& n, frame* f);
  void exec_set_block(const set_block_stmt& n, frame* f);
  void exec_call_block(const call_block_stmt& n, frame* f);
  void exec_filter_block(const filter_block_stmt& n, frame* f);
  void exec_scope(const scope_stmt& n, frame* f);
  value apply_block_filter(const filter_expr& f, value body, frame* fr);

  // eval.cpp
  value eval_name(const name_expr& e, frame* f);
  value eval_display(const expr& e, frame* f);
  value eval_call(const call_expr& e, frame* f);
  value eval_filter(const filter_expr& e, frame* f);
  value eval_test(const test_expr& e, frame* f);
  value eval_compare(const compare_expr& e, frame* f);
  value eval_slice(const value& obj, const slice_expr& s, frame* f);
  value eval_conditional(const conditional_expr& e, frame* f);

  const program_data& prog_;
  render_options options_;
  std::vector<value> globals_;  // per symbol: a variable given to the render, or a built-in
  std::vector<std::unique_ptr<frame>> frames_;
  std::vector<frame*> free_frames_;
  std::vector<std::unique_ptr<object>> objects_;
  text* out_ = nullptr;
  uint64_t work_ = 0;
  uint32_t depth_ = 0;
  uint32_t calls_ = 0;
};

// Bounds the interpreter's recursion (nested expressions, statements and calls).
class depth_guard {
 public:
  explicit depth_guard(interpreter& in);
  ~depth_guard() { --in_.depth_; }
  depth_guard(const depth_guard&) = delete;
  depth_guard& operator=(const depth_guard&) = delete;

 private:
  interpreter& in_;
};

}  // namespace hearth::jinja

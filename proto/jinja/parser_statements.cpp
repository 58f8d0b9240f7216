// The statement half of the parser (see parser.h); expressions are in parser.cpp.
#include <algorithm>

#include "proto/jinja/error.h"
#include "proto/jinja/parser.h"

namespace hearth::jinja {

namespace {

template <class T>
std::unique_ptr<T> make_stmt(stmt_kind kind, size_t at) {
  return std::make_unique<T>(kind, at);
}

bool in(std::initializer_list<std::string_view> list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

std::string quoted_list(std::initializer_list<std::string_view> tags) {
  std::string s;
  for (std::string_view t : tags) s += (s.empty() ? "'" : " or '") + std::string(t) + "'";
  return s;
}

}  // namespace

stmt_list parser::parse_template() {
  stmt_list body = subparse({});
  if (current().kind != token_kind::eof) fail_unexpected();
  return body;
}

stmt_list parser::subparse(std::initializer_list<std::string_view> end_tags) {
  stmt_list body;
  while (true) {
    const token& t = current();
    switch (t.kind) {
      case token_kind::data:
        body.push_back(std::make_unique<data_stmt>(t.offset, value::string(t.value)));
        next();
        break;
      case token_kind::variable_begin: {
        next();
        auto o = make_stmt<output_stmt>(stmt_kind::output, t.offset);
        o->e = parse_tuple(true);
        expect(token_kind::variable_end);
        body.push_back(std::move(o));
        break;
      }
      case token_kind::block_begin: {
        next();
        if (current().kind == token_kind::name && in(end_tags, current().value)) return body;
        body.push_back(parse_statement());
        expect(token_kind::block_end);
        break;
      }
      case token_kind::eof: return body;
      default: fail_unexpected();
    }
  }
}

stmt_list parser::parse_statements(std::initializer_list<std::string_view> end_tags, bool drop_needle) {
  nesting_guard guard(*this);
  skip_op(":");
  expect(token_kind::block_end);
  stmt_list body = subparse(end_tags);
  if (current().kind == token_kind::eof) {
    fail(current().offset, "unexpected end of template: expected " + quoted_list(end_tags));
  }
  if (drop_needle) next();
  return body;
}

stmt_ptr parser::parse_statement() {
  const token& t = current();
  if (t.kind != token_kind::name) fail(t.offset, "expected a tag name, got " + describe(t));
  const std::string& tag = t.value;
  if (tag == "if") return parse_if();
  if (tag == "for") return parse_for();
  if (tag == "set") return parse_set();
  if (tag == "macro") return parse_macro();
  if (tag == "call") return parse_call_block();
  if (tag == "filter") return parse_filter_block();
  if (tag == "with" || tag == "generation" || tag == "block") return parse_scope(tag);
  if (tag == "print") return parse_print();
  if (tag == "break") return parse_loop_control(stmt_kind::break_);
  if (tag == "continue") return parse_loop_control(stmt_kind::continue_);
  if (tag == "include" || tag == "import" || tag == "from" || tag == "extends") {
    fail(t.offset, "'" + tag + "' is not supported: a chat template cannot load other templates");
  }
  if (tag.starts_with("end") || tag == "elif" || tag == "else") {
    fail(t.offset, "unexpected '" + tag + "': no open block it could close");
  }
  fail(t.offset, "unknown tag '" + tag + "'");
}

stmt_ptr parser::parse_if() {
  auto n = make_stmt<if_stmt>(stmt_kind::if_, next().offset);
  while (true) {
    expr_ptr test = parse_tuple(false);
    stmt_list body = parse_statements({"elif", "else", "endif"}, false);
    n->branches.emplace_back(std::move(test), std::move(body));
    const std::string tag = next().value;
    if (tag == "elif") continue;
    if (tag == "else") n->otherwise = parse_statements({"endif"}, true);
    return n;
  }
}

stmt_ptr parser::parse_for() {
  auto n = make_stmt<for_stmt>(stmt_kind::for_, next().offset);
  n->target = parse_assign_target(true, false, false, {"in"});
  if (!skip_name("in")) fail(current().offset, "expected 'in', got " + describe(current()));
  n->iterable = parse_tuple(false, {"recursive"});
  if (skip_name("if")) n->filter = parse_expression();
  n->recursive = skip_name("recursive");
  ++loop_depth_;
  n->body = parse_statements({"endfor", "else"}, false);
  --loop_depth_;
  if (next().value == "else") n->otherwise = parse_statements({"endfor"}, true);
  return n;
}

stmt_ptr parser::parse_set() {
  const size_t at = next().offset;
  assign_target target = parse_assign_target(true, false, true);
  if (skip_op("=")) {
    auto n = make_stmt<set_stmt>(stmt_kind::set, at);
    n->target = std::move(target);
    n->e = parse_tuple();
    return n;
  }
  auto n = make_stmt<set_block_stmt>(stmt_kind::set_block, at);
  n->target = std::move(target);
  if (is_op("|")) n->filter = parse_filter(nullptr);
  n->body = parse_statements({"endset"}, true);
  return n;
}

void parser::parse_signature(macro_def& def) {
  expect_op("(");
  while (!is_op(")")) {
    if (!def.params.empty()) expect_op(",");
    const token& name = expect_name();
    def.params.push_back(intern(name.value));
    def.param_names.push_back(name.value);
    if (skip_op("=")) {
      def.defaults.push_back(parse_expression());
    } else if (!def.defaults.empty()) {
      fail(name.offset, "non-default argument follows default argument");
    }
  }
  expect_op(")");
}

// A macro's body: break and continue do not reach loops outside it; it notes whether it reads
// caller, varargs or kwargs.
void parser::parse_macro_body(macro_def& def, std::string_view end_tag) {
  macros_open_.push_back(&def);
  const uint32_t loops = std::exchange(loop_depth_, 0);
  def.body = parse_statements({end_tag}, true);
  loop_depth_ = loops;
  macros_open_.pop_back();
}

stmt_ptr parser::parse_macro() {
  auto n = make_stmt<macro_stmt>(stmt_kind::macro, next().offset);
  const token& name = expect_name();
  n->def.name = name.value;
  n->def.sym = intern(name.value);
  parse_signature(n->def);
  parse_macro_body(n->def, "endmacro");
  return n;
}

stmt_ptr parser::parse_call_block() {
  auto n = make_stmt<call_block_stmt>(stmt_kind::call_block, next().offset);
  n->caller.name = "caller";
  n->caller.sym = prog_.caller_sym;
  if (is_op("(")) parse_signature(n->caller);
  const size_t at = current().offset;
  expr_ptr call = parse_expression();
  if (call->kind != expr_kind::call) fail(at, "expected a call after 'call'");
  n->call.reset(static_cast<call_expr*>(call.release()));
  parse_macro_body(n->caller, "endcall");
  return n;
}

stmt_ptr parser::parse_filter_block() {
  auto n = make_stmt<filter_block_stmt>(stmt_kind::filter_block, next().offset);
  n->filter = parse_filter(nullptr, true);
  n->body = parse_statements({"endfilter"}, true);
  return n;
}

stmt_ptr parser::parse_scope(std::string_view tag) {
  auto n = make_stmt<scope_stmt>(stmt_kind::scope, next().offset);
  if (tag == "with") {
    while (current().kind != token_kind::block_end && current().kind != token_kind::eof) {
      if (!n->bindings.empty()) expect_op(",");
      assign_target target = parse_assign_target(true, false, false);
      expect_op("=");
      n->bindings.emplace_back(std::move(target), parse_expression());
    }
    n->body = parse_statements({"endwith"}, true);
  } else if (tag == "generation") {
    n->body = parse_statements({"endgeneration"}, true);
  } else {  // block
    const std::string name = expect_name().value;
    skip_name("scoped");
    skip_name("required");
    n->body = parse_statements({"endblock"}, true);
    skip_name(name);
  }
  return n;
}

stmt_ptr parser::parse_print() {
  const size_t at = next().offset;
  auto n = make_stmt<output_stmt>(stmt_kind::output, at);
  n->e = parse_tuple();
  return n;
}

stmt_ptr parser::parse_loop_control(stmt_kind kind) {
  const token& t = next();
  if (loop_depth_ == 0) fail(t.offset, "'" + t.value + "' outside of a loop");
  return std::make_unique<stmt>(kind, t.offset);
}

assign_target parser::parse_assign_target(bool with_tuple, bool name_only, bool with_namespace,
                                          std::initializer_list<std::string_view> extra_end) {
  if (name_only || !with_tuple) {
    if (name_only) {
      const token& t = expect_name();
      return assign_target{assign_target::form::name, intern(t.value), t.value, {}, {}};
    }
    return parse_target_item(with_namespace);
  }
  std::vector<assign_target> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    items.push_back(parse_target_item(with_namespace));
    if (!is_op(",")) break;
    is_tuple = true;
  }
  if (items.empty()) fail(current().offset, "expected an assignment target, got " + describe(current()));
  if (!is_tuple) return std::move(items[0]);
  assign_target t;
  t.kind = assign_target::form::tuple;
  t.items = std::move(items);
  return t;
}

assign_target parser::parse_target_item(bool with_namespace) {
  const token& t = current();
  if (t.kind == token_kind::op && t.value == "(") {
    nesting_guard guard(*this);
    next();
    assign_target inner = parse_assign_target(true, false, false);
    expect_op(")");
    return inner;
  }
  if (t.kind != token_kind::name || t.value == "true" || t.value == "false" || t.value == "none" ||
      t.value == "True" || t.value == "False" || t.value == "None") {
    fail(t.offset, "cannot assign to " + describe(t));
  }
  next();
  if (with_namespace && skip_op(".")) {
    const token& attr = expect_name();
    return assign_target{assign_target::form::attribute, intern(t.value), t.value, attr.value, {}};
  }
  return assign_target{assign_target::form::name, intern(t.value), t.value, {}, {}};
}

}  // namespace hearth::jinja

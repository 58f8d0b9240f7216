#include "proto/jinja/parser.h"

#include <algorithm>
#include <optional>

#include "proto/jinja/error.h"
#include "proto/jinja/filters.h"
#include "proto/jinja/tests.h"

namespace hearth::jinja {

nesting_guard::nesting_guard(parser& p) : p_(p) {
  if (++p_.nesting_ > max_parse_nesting) {
    p_.fail(p_.current().offset, "the template nests deeper than " + std::to_string(max_parse_nesting) + " levels");
  }
}

nesting_guard::~nesting_guard() { --p_.nesting_; }

namespace {

template <class T, class... A>
std::unique_ptr<T> make(A&&... a) {
  return std::make_unique<T>(std::forward<A>(a)...);
}

const std::pair<std::string_view, compare_op> compare_ops[] = {
    {"==", compare_op::eq}, {"!=", compare_op::ne}, {"<", compare_op::lt},
    {"<=", compare_op::le}, {">", compare_op::gt},  {">=", compare_op::ge}};

}  // namespace

std::shared_ptr<const program_data> parse_program(std::string_view source) {
  auto prog = std::make_shared<program_data>();
  prog->source = normalize_newlines(source);
  std::vector<token> tokens = lex(prog->source);
  parser p(*prog, std::move(tokens));
  prog->body = p.parse_template();
  return prog;
}

parser::parser(program_data& prog, std::vector<token> tokens) : prog_(prog), tokens_(std::move(tokens)) {
  prog_.loop_sym = intern("loop");
  prog_.caller_sym = intern("caller");
  prog_.varargs_sym = intern("varargs");
  prog_.kwargs_sym = intern("kwargs");
}

symbol parser::intern(const std::string& name) {
  auto [it, added] = prog_.symbol_ids.try_emplace(name, static_cast<symbol>(prog_.symbols.size()));
  if (added) prog_.symbols.push_back(name);
  return it->second;
}

// ---- tokens ----

const token& parser::next() {
  const token& t = tokens_[pos_];
  if (pos_ + 1 < tokens_.size()) ++pos_;
  return t;
}

bool parser::is_op(std::string_view op) const { return current().kind == token_kind::op && current().value == op; }
bool parser::is_name(std::string_view name) const {
  return current().kind == token_kind::name && current().value == name;
}

bool parser::skip_op(std::string_view op) {
  if (!is_op(op)) return false;
  next();
  return true;
}

bool parser::skip_name(std::string_view name) {
  if (!is_name(name)) return false;
  next();
  return true;
}

const token& parser::expect_op(std::string_view op) {
  if (!is_op(op)) fail(current().offset, "expected '" + std::string(op) + "', got " + describe(current()));
  return next();
}

const token& parser::expect_name() {
  if (current().kind != token_kind::name) fail(current().offset, "expected a name, got " + describe(current()));
  return next();
}

void parser::expect(token_kind kind) {
  if (current().kind != kind) {
    const char* what = kind == token_kind::block_end      ? "end of statement '%}'"
                       : kind == token_kind::variable_end ? "end of print statement '}}'"
                                                          : "another token";
    fail(current().offset, std::string("expected ") + what + ", got " + describe(current()));
  }
  next();
}

std::string parser::describe(const token& t) const {
  switch (t.kind) {
    case token_kind::eof: return "end of template";
    case token_kind::block_end: return "'%}'";
    case token_kind::variable_end: return "'}}'";
    case token_kind::block_begin: return "'{%'";
    case token_kind::variable_begin: return "'{{'";
    case token_kind::data: return "template text";
    case token_kind::string: return "a string";
    case token_kind::integer:
    case token_kind::floating: return "'" + t.value + "'";
    default: return "'" + t.value + "'";
  }
}

void parser::fail(size_t offset, const std::string& message) const {
  const source_position p = position_of(prog_.source, offset);
  throw syntax_error(p.line, p.column, message);
}

void parser::fail_unexpected() const { fail(current().offset, "unexpected " + describe(current())); }

// ---- expressions ----

expr_ptr parser::finish(expr_ptr node, std::initializer_list<const expr*> children) {
  uint32_t d = 0;
  for (const expr* c : children) {
    if (c) d = std::max(d, c->depth);
  }
  node->depth = std::max(node->depth, d + 1);
  if (node->depth > 2 * max_parse_nesting) {
    fail(node->offset, "the expression nests deeper than " + std::to_string(2 * max_parse_nesting) + " levels");
  }
  return node;
}

uint32_t parser::args_depth(const call_arguments& a) const {
  uint32_t d = 0;
  for (const auto& e : a.positional) d = std::max(d, e->depth);
  for (const auto& [k, e] : a.keyword) d = std::max(d, e->depth);
  if (a.star) d = std::max(d, a.star->depth);
  if (a.star_star) d = std::max(d, a.star_star->depth);
  return d;
}

expr_ptr parser::parse_expression(bool with_condexpr) {
  nesting_guard guard(*this);
  return with_condexpr ? parse_condexpr() : parse_or();
}

expr_ptr parser::parse_condexpr() {
  expr_ptr then = parse_or();
  while (is_name("if")) {
    const size_t at = next().offset;
    auto c = make<conditional_expr>(expr_kind::conditional, at);
    c->test = parse_or();
    if (skip_name("else")) c->otherwise = parse_condexpr();
    c->then = std::move(then);
    const expr *a = c->test.get(), *b = c->then.get(), *o = c->otherwise.get();
    then = finish(std::move(c), {a, b, o});
  }
  return then;
}

// One left-associative level: `operand` parses the operands; `take` recognizes an operator at the
// current token, consumes it and says what node it makes.
struct binary_kind {
  expr_kind kind;
  binary_op op = binary_op::add;
};

template <class Operand, class Take>
expr_ptr parser::left_assoc(Operand operand, Take take) {
  expr_ptr left = operand();
  while (true) {
    const size_t at = current().offset;
    const std::optional<binary_kind> k = take();
    if (!k) return left;
    auto b = make<binary_expr>(k->kind, at);
    b->op = k->op;
    b->left = std::move(left);
    b->right = operand();
    const expr *l = b->left.get(), *r = b->right.get();
    left = finish(std::move(b), {l, r});
  }
}

expr_ptr parser::parse_or() {
  return left_assoc([this] { return parse_and(); }, [this]() -> std::optional<binary_kind> {
    if (!skip_name("or")) return std::nullopt;
    return binary_kind{expr_kind::or_};
  });
}

expr_ptr parser::parse_and() {
  return left_assoc([this] { return parse_not(); }, [this]() -> std::optional<binary_kind> {
    if (!skip_name("and")) return std::nullopt;
    return binary_kind{expr_kind::and_};
  });
}

expr_ptr parser::parse_not() {
  if (!is_name("not")) return parse_compare();
  nesting_guard guard(*this);
  auto u = make<unary_expr>(expr_kind::not_, next().offset);
  u->operand = parse_not();
  const expr* o = u->operand.get();
  return finish(std::move(u), {o});
}

expr_ptr parser::parse_compare() {
  const size_t at = current().offset;
  expr_ptr first = parse_math1();
  std::vector<std::pair<compare_op, expr_ptr>> rest;
  while (true) {
    std::optional<compare_op> op;
    if (current().kind == token_kind::op) {
      for (const auto& [text, o] : compare_ops) {
        if (current().value == text) op = o;
      }
      if (op) next();
    } else if (is_name("in")) {
      next();
      op = compare_op::in;
    } else if (is_name("not") && look().kind == token_kind::name && look().value == "in") {
      next(), next();
      op = compare_op::not_in;
    }
    if (!op) break;
    rest.emplace_back(*op, parse_math1());
  }
  if (rest.empty()) return first;
  auto c = make<compare_expr>(expr_kind::compare, at);
  uint32_t d = first->depth;
  for (const auto& [o, e] : rest) d = std::max(d, e->depth);
  c->first = std::move(first);
  c->rest = std::move(rest);
  c->depth = d + 1;
  return finish(std::move(c), {});
}

expr_ptr parser::parse_math1() {
  return left_assoc([this] { return parse_concat(); }, [this]() -> std::optional<binary_kind> {
    if (skip_op("+")) return binary_kind{expr_kind::binary, binary_op::add};
    if (skip_op("-")) return binary_kind{expr_kind::binary, binary_op::sub};
    return std::nullopt;
  });
}

expr_ptr parser::parse_concat() {
  const size_t at = current().offset;
  expr_ptr first = parse_math2();
  if (!is_op("~")) return first;
  auto c = make<concat_expr>(expr_kind::concat, at);
  uint32_t d = first->depth;
  c->parts.push_back(std::move(first));
  while (skip_op("~")) {
    c->parts.push_back(parse_math2());
    d = std::max(d, c->parts.back()->depth);
  }
  c->depth = d + 1;
  return finish(std::move(c), {});
}

expr_ptr parser::parse_math2() {
  return left_assoc([this] { return parse_pow(); }, [this]() -> std::optional<binary_kind> {
    if (skip_op("*")) return binary_kind{expr_kind::binary, binary_op::mul};
    if (skip_op("/")) return binary_kind{expr_kind::binary, binary_op::div};
    if (skip_op("//")) return binary_kind{expr_kind::binary, binary_op::floordiv};
    if (skip_op("%")) return binary_kind{expr_kind::binary, binary_op::mod};
    return std::nullopt;
  });
}

// Left-associative, as in Jinja2: 2 ** 3 ** 2 is 64.
expr_ptr parser::parse_pow() {
  return left_assoc([this] { return parse_unary(); }, [this]() -> std::optional<binary_kind> {
    if (skip_op("**")) return binary_kind{expr_kind::binary, binary_op::pow};
    return std::nullopt;
  });
}

expr_ptr parser::parse_unary(bool with_filter) {
  nesting_guard guard(*this);
  expr_ptr node;
  if (is_op("-") || is_op("+")) {
    const expr_kind kind = is_op("-") ? expr_kind::negate : expr_kind::plus;
    auto u = make<unary_expr>(kind, next().offset);
    u->operand = parse_unary(false);
    const expr* o = u->operand.get();
    node = finish(std::move(u), {o});
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

expr_ptr parser::parse_primary() {
  const token& t = current();
  switch (t.kind) {
    case token_kind::name: {
      next();
      if (t.value == "true" || t.value == "True") return make<literal_expr>(t.offset, value::boolean(true));
      if (t.value == "false" || t.value == "False") return make<literal_expr>(t.offset, value::boolean(false));
      if (t.value == "none" || t.value == "None") return make<literal_expr>(t.offset, value::none());
      for (macro_def* m : macros_open_) {
        if (t.value == "caller") m->uses_caller = true;
        if (t.value == "varargs") m->uses_varargs = true;
        if (t.value == "kwargs") m->uses_kwargs = true;
      }
      return make<name_expr>(t.offset, intern(t.value), t.value);
    }
    case token_kind::string: {
      const size_t at = t.offset;
      std::string s;
      while (current().kind == token_kind::string) s += next().value;
      return make<literal_expr>(at, value::string(s));
    }
    case token_kind::integer: next(); return make<literal_expr>(t.offset, value::integer(t.int_value));
    case token_kind::floating: next(); return make<literal_expr>(t.offset, value::floating(t.float_value));
    case token_kind::op:
      if (t.value == "(") {
        next();
        expr_ptr e = parse_tuple(true, {}, true);
        expect_op(")");
        return e;
      }
      if (t.value == "[") return parse_list();
      if (t.value == "{") return parse_dict();
      break;
    default: break;
  }
  fail_unexpected();
}

bool parser::is_tuple_end(std::initializer_list<std::string_view> extra_end) const {
  const token& t = current();
  if (t.kind == token_kind::variable_end || t.kind == token_kind::block_end || t.kind == token_kind::eof) return true;
  if (t.kind == token_kind::op && t.value == ")") return true;
  return t.kind == token_kind::name && std::find(extra_end.begin(), extra_end.end(), t.value) != extra_end.end();
}

expr_ptr parser::parse_tuple(bool with_condexpr, std::initializer_list<std::string_view> extra_end,
                             bool explicit_parentheses) {
  const size_t at = current().offset;
  std::vector<expr_ptr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    items.push_back(parse_expression(with_condexpr));
    if (is_op(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parentheses) fail(current().offset, "expected an expression, got " + describe(current()));
  }
  auto t = make<sequence_expr>(expr_kind::tuple, at);
  uint32_t d = 0;
  for (const auto& e : items) d = std::max(d, e->depth);
  t->items = std::move(items);
  t->depth = d + 1;
  return finish(std::move(t), {});
}

expr_ptr parser::parse_list() {
  auto l = make<sequence_expr>(expr_kind::list, expect_op("[").offset);
  uint32_t d = 0;
  while (!is_op("]")) {
    if (!l->items.empty()) expect_op(",");
    if (is_op("]")) break;
    l->items.push_back(parse_expression());
    d = std::max(d, l->items.back()->depth);
  }
  expect_op("]");
  l->depth = d + 1;
  return finish(std::move(l), {});
}

expr_ptr parser::parse_dict() {
  auto m = make<dict_expr>(expr_kind::dict, expect_op("{").offset);
  uint32_t d = 0;
  while (!is_op("}")) {
    if (!m->items.empty()) expect_op(",");
    if (is_op("}")) break;
    expr_ptr k = parse_expression();
    expect_op(":");
    expr_ptr v = parse_expression();
    d = std::max({d, k->depth, v->depth});
    m->items.emplace_back(std::move(k), std::move(v));
  }
  expect_op("}");
  m->depth = d + 1;
  return finish(std::move(m), {});
}

expr_ptr parser::parse_postfix(expr_ptr node) {
  while (true) {
    if (is_op(".") || is_op("[")) {
      node = parse_subscript(std::move(node));
    } else if (is_op("(")) {
      auto c = make<call_expr>(expr_kind::call, current().offset);
      parse_call_args(c->args);
      c->callee = std::move(node);
      c->depth = std::max(c->callee->depth, args_depth(c->args)) + 1;
      node = finish(std::move(c), {});
    } else {
      return node;
    }
  }
}

expr_ptr parser::parse_filter_expr(expr_ptr node) {
  while (true) {
    if (is_op("|")) {
      node = parse_filter(std::move(node));
    } else if (is_name("is")) {
      node = parse_test(std::move(node));
    } else if (is_op("(")) {
      auto c = make<call_expr>(expr_kind::call, current().offset);
      parse_call_args(c->args);
      c->callee = std::move(node);
      c->depth = std::max(c->callee->depth, args_depth(c->args)) + 1;
      node = finish(std::move(c), {});
    } else {
      return node;
    }
  }
}

expr_ptr parser::parse_subscript(expr_ptr node) {
  const token& t = next();
  if (t.value == ".") {
    const token& attr = current();
    if (attr.kind == token_kind::name) {
      next();
      auto a = make<attribute_expr>(t.offset, std::move(node), attr.value);
      const expr* o = a->object.get();
      return finish(std::move(a), {o});
    }
    if (attr.kind != token_kind::integer) fail(attr.offset, "expected a name or number after '.'");
    next();
    auto i = make<item_expr>(expr_kind::item, t.offset);
    i->object = std::move(node);
    i->index = make<literal_expr>(attr.offset, value::integer(attr.int_value));
    const expr* o = i->object.get();
    return finish(std::move(i), {o});
  }
  std::vector<expr_ptr> args;
  while (!is_op("]")) {
    if (!args.empty()) expect_op(",");
    args.push_back(parse_subscribed());
  }
  expect_op("]");
  auto i = make<item_expr>(expr_kind::item, t.offset);
  i->object = std::move(node);
  if (args.size() == 1) {
    i->index = std::move(args[0]);
  } else {
    auto tup = make<sequence_expr>(expr_kind::tuple, t.offset);
    uint32_t d = 0;
    for (const auto& e : args) d = std::max(d, e->depth);
    tup->items = std::move(args);
    tup->depth = d + 1;
    i->index = std::move(tup);
  }
  const expr *o = i->object.get(), *x = i->index.get();
  return finish(std::move(i), {o, x});
}

expr_ptr parser::parse_subscribed() {
  const size_t at = current().offset;
  expr_ptr start;
  if (!skip_op(":")) {
    expr_ptr e = parse_expression();
    if (!skip_op(":")) return e;
    start = std::move(e);
  }
  auto s = make<slice_expr>(expr_kind::slice, at);
  s->start = std::move(start);
  if (!is_op(":") && !is_op("]") && !is_op(",")) s->stop = parse_expression();
  if (skip_op(":") && !is_op("]") && !is_op(",")) s->step = parse_expression();
  const expr *a = s->start.get(), *b = s->stop.get(), *c = s->step.get();
  return finish(std::move(s), {a, b, c});
}

void parser::parse_call_args(call_arguments& out) {
  const size_t at = expect_op("(").offset;
  bool require_comma = false;
  while (!is_op(")")) {
    if (require_comma) {
      expect_op(",");
      if (is_op(")")) break;
    }
    const auto ensure = [&](bool ok) {
      if (!ok) fail(at, "invalid syntax for function call expression");
    };
    if (skip_op("*")) {
      ensure(!out.star && !out.star_star);
      out.star = parse_expression();
    } else if (skip_op("**")) {
      ensure(!out.star_star);
      out.star_star = parse_expression();
    } else if (current().kind == token_kind::name && look().kind == token_kind::op && look().value == "=") {
      ensure(!out.star_star);
      std::string key = next().value;
      next();
      out.keyword.emplace_back(std::move(key), parse_expression());
    } else {
      ensure(!out.star && !out.star_star && out.keyword.empty());
      out.positional.push_back(parse_expression());
    }
    require_comma = true;
  }
  expect_op(")");
}

std::unique_ptr<filter_expr> parser::parse_filter(expr_ptr input, bool start_inline) {
  std::unique_ptr<filter_expr> node;
  while (is_op("|") || start_inline) {
    if (!start_inline) next();
    start_inline = false;
    const token& name = expect_name();
    auto f = make<filter_expr>(expr_kind::filter, name.offset);
    f->name = name.value;
    while (skip_op(".")) f->name += "." + expect_name().value;
    f->fn = find_filter(f->name);
    if (is_op("(")) parse_call_args(f->args);
    f->input = node ? std::move(node) : std::move(input);
    f->depth = std::max(f->input ? f->input->depth : 0, args_depth(f->args)) + 1;
    node.reset(static_cast<filter_expr*>(finish(std::move(f), {}).release()));
  }
  return node;
}

expr_ptr parser::parse_test(expr_ptr input) {
  const size_t at = next().offset;  // "is"
  const bool negated = skip_name("not");
  const token& name = expect_name();
  auto t = make<test_expr>(expr_kind::test, at);
  t->name = name.value;
  while (skip_op(".")) t->name += "." + expect_name().value;
  t->fn = find_test(t->name);
  const token& c = current();
  const bool arg_start =
      c.kind == token_kind::name || c.kind == token_kind::string || c.kind == token_kind::integer ||
      c.kind == token_kind::floating || (c.kind == token_kind::op && (c.value == "[" || c.value == "{"));
  if (is_op("(")) {
    parse_call_args(t->args);
  } else if (arg_start && !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) fail(c.offset, "you cannot chain multiple tests with is");
    t->args.positional.push_back(parse_postfix(parse_primary()));
  }
  t->input = std::move(input);
  t->depth = std::max(t->input->depth, args_depth(t->args)) + 1;
  expr_ptr node = finish(std::move(t), {});
  if (!negated) return node;
  auto u = make<unary_expr>(expr_kind::not_, at);
  u->operand = std::move(node);
  const expr* o = u->operand.get();
  return finish(std::move(u), {o});
}

}  // namespace hearth::jinja

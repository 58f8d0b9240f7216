#pragma once
// The parsed template: expression and statement nodes, built by the parser and read by the
// interpreter. Immutable after parsing; one tree serves any number of concurrent renders.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proto/jinja/value.h"

namespace hearth::jinja {

class interpreter;
struct call_args;

// Variable names are interned: a symbol indexes program_data::symbols.
using symbol = uint32_t;

using filter_fn = value (*)(interpreter&, const value& input, const call_args& args);
using test_fn = bool (*)(interpreter&, const value& input, const call_args& args);

// ---- expressions ----

enum class expr_kind : uint8_t {
  literal, name, list, tuple, dict, attribute, item, slice, call, filter, test,
  negate, plus, not_, binary, compare, and_, or_, conditional, concat,
};

enum class binary_op : uint8_t { add, sub, mul, div, floordiv, mod, pow };
enum class compare_op : uint8_t { eq, ne, lt, le, gt, ge, in, not_in };

struct expr {
  explicit expr(expr_kind k, size_t at) : kind(k), offset(at) {}
  virtual ~expr() = default;
  expr_kind kind;
  uint32_t depth = 1;  // of the subtree; the parser bounds it, so walking a tree cannot overflow
  size_t offset;       // into the normalized source, for messages
};
using expr_ptr = std::unique_ptr<expr>;

struct literal_expr : expr {
  literal_expr(size_t at, value v) : expr(expr_kind::literal, at), v(std::move(v)) {}
  value v;
};

struct name_expr : expr {
  name_expr(size_t at, symbol s, std::string n) : expr(expr_kind::name, at), sym(s), name(std::move(n)) {}
  symbol sym;
  std::string name;
};

struct sequence_expr : expr {  // list or tuple literal
  using expr::expr;
  std::vector<expr_ptr> items;
};

struct dict_expr : expr {
  using expr::expr;
  std::vector<std::pair<expr_ptr, expr_ptr>> items;
};

struct attribute_expr : expr {  // object.name
  attribute_expr(size_t at, expr_ptr o, std::string n)
      : expr(expr_kind::attribute, at), object(std::move(o)), name(std::move(n)) {}
  expr_ptr object;
  std::string name;
};

struct item_expr : expr {  // object[index]; index may be a slice_expr
  using expr::expr;
  expr_ptr object, index;
};

struct slice_expr : expr {  // start:stop:step, each optional
  using expr::expr;
  expr_ptr start, stop, step;
};

struct call_arguments {
  std::vector<expr_ptr> positional;
  std::vector<std::pair<std::string, expr_ptr>> keyword;
  expr_ptr star;       // *args
  expr_ptr star_star;  // **kwargs
};

struct call_expr : expr {
  using expr::expr;
  expr_ptr callee;
  call_arguments args;
};

struct filter_expr : expr {  // input | name(args); input is null in a {% filter %} block
  using expr::expr;
  expr_ptr input;
  std::string name;
  filter_fn fn = nullptr;  // null: no such filter, an error when evaluated (as in Jinja2)
  call_arguments args;
};

struct test_expr : expr {  // input is name(args)
  using expr::expr;
  expr_ptr input;
  std::string name;
  test_fn fn = nullptr;
  call_arguments args;
};

struct unary_expr : expr {  // -x, +x, not x
  using expr::expr;
  expr_ptr operand;
};

struct binary_expr : expr {  // arithmetic, and, or
  using expr::expr;
  binary_op op = binary_op::add;
  expr_ptr left, right;
};

struct compare_expr : expr {  // a < b <= c ... (chained as in Python)
  using expr::expr;
  expr_ptr first;
  std::vector<std::pair<compare_op, expr_ptr>> rest;
};

struct conditional_expr : expr {  // then if test else otherwise
  using expr::expr;
  expr_ptr test, then, otherwise;  // otherwise may be null: undefined
};

struct concat_expr : expr {  // a ~ b ~ c
  using expr::expr;
  std::vector<expr_ptr> parts;
};

// ---- statements ----

enum class stmt_kind : uint8_t {
  data, output, if_, for_, set, set_block, macro, call_block, filter_block, scope, break_, continue_,
};

struct stmt {
  explicit stmt(stmt_kind k, size_t at) : kind(k), offset(at) {}
  virtual ~stmt() = default;
  stmt_kind kind;
  size_t offset;
};
using stmt_ptr = std::unique_ptr<stmt>;
using stmt_list = std::vector<stmt_ptr>;

// Where a value goes: a name, a tuple of targets (unpacking) or ns.attr (namespaces only).
struct assign_target {
  enum class form : uint8_t { name, tuple, attribute } kind = form::name;
  symbol sym = 0;
  std::string name;
  std::string attribute;
  std::vector<assign_target> items;
};

struct data_stmt : stmt {  // template text
  data_stmt(size_t at, value t) : stmt(stmt_kind::data, at), text(std::move(t)) {}
  value text;  // a string
};

struct output_stmt : stmt {  // {{ expr }}
  using stmt::stmt;
  expr_ptr e;
};

struct if_stmt : stmt {
  using stmt::stmt;
  std::vector<std::pair<expr_ptr, stmt_list>> branches;  // if and elifs
  stmt_list otherwise;
};

struct for_stmt : stmt {
  using stmt::stmt;
  assign_target target;
  expr_ptr iterable;
  expr_ptr filter;  // for x in y if filter
  bool recursive = false;
  stmt_list body, otherwise;
};

struct set_stmt : stmt {  // {% set target = e %}
  using stmt::stmt;
  assign_target target;
  expr_ptr e;
};

// The filters of a {% set x | f | g %} or {% filter f | g %} block: a chain whose innermost
// filter has no input (the block's output goes there).
using block_filter = std::unique_ptr<filter_expr>;

struct set_block_stmt : stmt {  // {% set target | filters %}body{% endset %}
  using stmt::stmt;
  assign_target target;
  block_filter filter;  // may be null
  stmt_list body;
};

struct macro_def {
  std::string name;
  symbol sym = 0;
  std::vector<symbol> params;
  std::vector<std::string> param_names;
  std::vector<expr_ptr> defaults;  // for the last defaults.size() parameters
  stmt_list body;
  // The body reads these names, so the macro accepts a caller / extra arguments.
  bool uses_caller = false, uses_varargs = false, uses_kwargs = false;
};

struct macro_stmt : stmt {
  using stmt::stmt;
  macro_def def;
};

struct call_block_stmt : stmt {  // {% call(params) callee(args) %}body{% endcall %}
  using stmt::stmt;
  macro_def caller;  // named "caller"
  std::unique_ptr<call_expr> call;
};

struct filter_block_stmt : stmt {  // {% filter name(args) | ... %}body{% endfilter %}
  using stmt::stmt;
  block_filter filter;
  stmt_list body;
};

struct scope_stmt : stmt {  // {% with a = x %}, {% generation %}, {% block %}: a body in its own scope
  using stmt::stmt;
  std::vector<std::pair<assign_target, expr_ptr>> bindings;
  stmt_list body;
};

// ---- the program ----

struct program_data {
  std::string source;  // normalized (see lexer.h); node offsets point into it
  stmt_list body;
  std::vector<std::string> symbols;
  std::unordered_map<std::string, symbol> symbol_ids;
  // Symbols the interpreter itself binds.
  symbol loop_sym = 0, caller_sym = 0, varargs_sym = 0, kwargs_sym = 0;
};

}  // namespace hearth::jinja

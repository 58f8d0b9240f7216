#pragma once
// Tokens to a program (ast.h), following Jinja2's grammar and precedence: conditional
// expressions, or, and, not, comparisons (chained, with in / not in), + and -, ~, * / // %,
// ** (left-associative, as in Jinja2), unary - and +, then primaries with subscripts, calls,
// filters and tests.
//
// Statements: if/elif/else, for (tuple targets, `if` filter, `recursive`, else), set (plain,
// namespace attribute, block form with filters), macro, call, filter, with, block,
// generation, print, break, continue. include / import / extends are refused: a template
// cannot load other templates.
//
// Limits: expressions and statements nest at most max_parse_nesting deep (a deeper template is
// a syntax error), so the interpreter's recursion over the tree is bounded.
#include <memory>
#include <string_view>
#include <vector>

#include "proto/jinja/ast.h"
#include "proto/jinja/lexer.h"

namespace hearth::jinja {

inline constexpr uint32_t max_parse_nesting = 96;

// Throws syntax_error naming the line and column.
std::shared_ptr<const program_data> parse_program(std::string_view source);

class parser;

// Counts recursion through the grammar; past max_parse_nesting the template is refused.
class nesting_guard {
 public:
  explicit nesting_guard(parser& p);
  ~nesting_guard();
  nesting_guard(const nesting_guard&) = delete;
  nesting_guard& operator=(const nesting_guard&) = delete;

 private:
  parser& p_;
};

class parser {
 public:
  parser(program_data& prog, std::vector<token> tokens);
  stmt_list parse_template();

 private:
  friend class nesting_guard;

  // parser.cpp: expressions
  expr_ptr parse_expression(bool with_condexpr = true);
  expr_ptr parse_condexpr();
  expr_ptr parse_or();
  expr_ptr parse_and();
  expr_ptr parse_not();
  expr_ptr parse_compare();
  expr_ptr parse_math1();
  expr_ptr parse_concat();
  expr_ptr parse_math2();
  expr_ptr parse_pow();
  expr_ptr parse_unary(bool with_filter = true);
  expr_ptr parse_primary();
  expr_ptr parse_tuple(bool with_condexpr = true, std::initializer_list<std::string_view> extra_end = {},
                       bool explicit_parentheses = false);
  expr_ptr parse_list();
  expr_ptr parse_dict();
  expr_ptr parse_postfix(expr_ptr node);
  expr_ptr parse_filter_expr(expr_ptr node);
  expr_ptr parse_subscript(expr_ptr node);
  expr_ptr parse_subscribed();
  void parse_call_args(call_arguments& out);
  std::unique_ptr<filter_expr> parse_filter(expr_ptr input, bool start_inline = false);
  expr_ptr parse_test(expr_ptr input);
  bool is_tuple_end(std::initializer_list<std::string_view> extra_end) const;
  template <class Operand, class Take>
  expr_ptr left_assoc(Operand operand, Take take);
  // Sets node's depth from its children and checks it against the limit.
  expr_ptr finish(expr_ptr node, std::initializer_list<const expr*> children);
  uint32_t args_depth(const call_arguments& a) const;
  symbol intern(const std::string& name);

  // parser_statements.cpp: statements
  stmt_list subparse(std::initializer_list<std::string_view> end_tags);
  stmt_list parse_statements(std::initializer_list<std::string_view> end_tags, bool drop_needle);
  stmt_ptr parse_statement();
  stmt_ptr parse_if();
  stmt_ptr parse_for();
  stmt_ptr parse_set();
  stmt_ptr parse_macro();
  stmt_ptr parse_call_block();
  stmt_ptr parse_filter_block();
  stmt_ptr parse_scope(std::string_view tag);
  stmt_ptr parse_print();
  stmt_ptr parse_loop_control(stmt_kind kind);
  void parse_signature(macro_def& def);
  void parse_macro_body(macro_def& def, std::string_view end_tag);
  assign_target parse_assign_target(bool with_tuple, bool name_only, bool with_namespace,
                                    std::initializer_list<std::string_view> extra_end = {});
  assign_target parse_target_item(bool with_namespace);

  // tokens
  const token& current() const { return tokens_[pos_]; }
  const token& look() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  const token& next();
  bool is_op(std::string_view op) const;
  bool is_name(std::string_view name) const;
  bool skip_op(std::string_view op);
  bool skip_name(std::string_view name);
  const token& expect_op(std::string_view op);
  const token& expect_name();
  void expect(token_kind kind);
  [[noreturn]] void fail(size_t offset, const std::string& message) const;
  [[noreturn]] void fail_unexpected() const;
  std::string describe(const token& t) const;

  program_data& prog_;
  std::vector<token> tokens_;
  size_t pos_ = 0;
  uint32_t nesting_ = 0;
  uint32_t loop_depth_ = 0;               // for break / continue
  std::vector<macro_def*> macros_open_;   // macros whose body is being parsed
};

}  // namespace hearth::jinja

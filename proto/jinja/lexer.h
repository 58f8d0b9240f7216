#pragma once
// Template text to tokens, as Jinja2's lexer does it with trim_blocks and lstrip_blocks on (the
// way Hugging Face renders chat templates):
// - "{{ }}", "{% %}" and "{# #}" delimit expressions, statements and comments; "{% raw %}"
//   quotes text up to "{% endraw %}".
// - "-" after an opening or before a closing delimiter strips the whitespace (newlines included)
//   on that side; "+" keeps it.
// - trim_blocks: the first newline after a statement or comment is dropped.
// - lstrip_blocks: spaces and tabs from the start of a line up to a statement or comment are
//   dropped.
// Line breaks are normalized to "\n" and one trailing newline is dropped before lexing.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::jinja {

enum class token_kind : uint8_t {
  data,            // template text to output as is
  variable_begin,  // {{
  variable_end,    // }}
  block_begin,     // {%
  block_end,       // %}
  name,
  string,          // value: the decoded literal
  integer,
  floating,
  op,              // value: the operator ("+", "//", "==", "(" ...)
  eof,
};

struct token {
  token_kind kind;
  size_t offset;      // into the normalized source
  std::string value;  // data, name, string contents, operator
  int64_t int_value = 0;
  double float_value = 0;
};

// The normalized source the lexer reads and the offsets of tokens refer to.
std::string normalize_newlines(std::string_view source);

// Throws syntax_error (with the line and column of the problem in `source`).
std::vector<token> lex(std::string_view source);

// 1-based line and column (in characters) of a byte offset.
struct source_position {
  size_t line;
  size_t column;
};
source_position position_of(std::string_view source, size_t offset);

}  // namespace hearth::jinja

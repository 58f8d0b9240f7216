#include "proto/jinja/lexer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "proto/jinja/error.h"
#include "proto/jinja/unicode.h"

namespace hearth::jinja {

namespace {

// Python's \s and str.isspace() at s[pos]; its length in bytes, 0 if not whitespace.
size_t space_at(std::string_view s, size_t pos) {
  const unicode::decoded d = unicode::decode(s, pos);
  return d.valid && unicode::is_space(d.cp) ? d.length : 0;
}

size_t skip_space(std::string_view s, size_t pos) {
  while (pos < s.size()) {
    const size_t n = space_at(s, pos);
    if (!n) break;
    pos += n;
  }
  return pos;
}

// Python's str.rstrip(): the length of s without its trailing whitespace.
size_t rstrip_length(std::string_view s) {
  size_t keep = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = space_at(s, i);
    if (n) {
      i += n;
    } else {
      i += unicode::decode(s, i).length;
      keep = i;
    }
  }
  return keep;
}

bool all_space(std::string_view s) {
  if (s.empty()) return false;  // Jinja2's \s+ needs one character
  return skip_space(s, 0) == s.size();
}

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_dec(char c) { return c >= '0' && c <= '9'; }
bool is_bin(char c) { return c == '0' || c == '1'; }
bool is_oct(char c) { return c >= '0' && c <= '7'; }
bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_zero(char c) { return c == '0'; }

// Operators, longest first (Jinja2 matches the longest).
constexpr std::array<std::string_view, 26> operators = {
    "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{",
    "}", ">", "<", "=", ".", ":", "|", ",", ";"};

class lexer {
 public:
  explicit lexer(std::string_view src) : src_(src) {}

  std::vector<token> run() {
    while (pos_ < src_.size()) {
      const size_t tag = find_tag(pos_);
      if (tag == std::string_view::npos) {
        emit_data(pos_, src_.substr(pos_));
        break;
      }
      lex_tag(tag);
    }
    tokens_.push_back({token_kind::eof, src_.size(), {}});
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void error(size_t offset, const std::string& message) const {
    const source_position p = position_of(src_, offset);
    throw syntax_error(p.line, p.column, message);
  }

  size_t find_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string_view::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string_view::npos;
  }

  void emit_data(size_t offset, std::string_view text) {
    if (!text.empty()) tokens_.push_back({token_kind::data, offset, std::string(text)});
  }

  // The text before a tag, after "-" stripping or lstrip_blocks (Jinja2's OptionalLStrip).
  void emit_text_before(size_t from, size_t tag, char sign, bool is_variable) {
    std::string_view text = src_.substr(from, tag - from);
    if (sign == '-') {
      text = text.substr(0, rstrip_length(text));
    } else if (sign != '+' && !is_variable) {
      const size_t nl = text.rfind('\n');
      const size_t line_start = nl == std::string_view::npos ? 0 : nl + 1;
      if ((line_start > 0 || line_starting_) && all_space(text.substr(line_start))) {
        text = text.substr(0, line_start);
      }
    }
    emit_data(from, text);
  }

  // The end of a statement delimiter ("+%}", "-%}" and following space, or "%}" and one newline)
  // at p, or npos.
  size_t block_end_at(size_t p) const {
    if (src_.compare(p, 3, "+%}") == 0) return p + 3;
    if (src_.compare(p, 3, "-%}") == 0) return skip_space(src_, p + 3);
    if (src_.compare(p, 2, "%}") == 0) return p + 2 < src_.size() && src_[p + 2] == '\n' ? p + 3 : p + 2;
    return std::string_view::npos;
  }

  void finish_at(size_t end) {
    line_starting_ = end > 0 && src_[end - 1] == '\n';
    pos_ = end;
  }

  void lex_tag(size_t tag) {
    const char kind = src_[tag + 1];
    size_t p = tag + 2;
    const char sign = p < src_.size() && (src_[p] == '-' || src_[p] == '+') ? src_[p] : 0;
    if (kind == '%' && lex_raw(tag, sign)) return;
    emit_text_before(pos_, tag, sign, kind == '{');
    if (sign) ++p;
    if (kind == '#') return lex_comment(tag, p);
    tokens_.push_back({kind == '{' ? token_kind::variable_begin : token_kind::block_begin, tag, {}});
    lex_expression(tag, p, kind == '{');
  }

  void lex_comment(size_t tag, size_t p) {
    for (size_t i = p; i < src_.size(); ++i) {
      if (src_.compare(i, 3, "+#}") == 0) return finish_at(i + 3);
      if (src_.compare(i, 3, "-#}") == 0) return finish_at(skip_space(src_, i + 3));
      if (src_.compare(i, 2, "#}") == 0) {
        return finish_at(i + 2 < src_.size() && src_[i + 2] == '\n' ? i + 3 : i + 2);
      }
    }
    error(tag, "missing end of comment tag");
  }

  // "{% raw %}...{% endraw %}" at tag: emits the quoted text and returns true.
  bool lex_raw(size_t tag, char sign) {
    size_t p = skip_space(src_, tag + 2 + (sign ? 1 : 0));
    if (src_.compare(p, 3, "raw") != 0) return false;
    p = skip_space(src_, p + 3);
    size_t body;
    if (src_.compare(p, 3, "-%}") == 0) {
      body = skip_space(src_, p + 3);
    } else if (src_.compare(p, 2, "%}") == 0) {
      body = p + 2;
    } else {
      return false;
    }
    emit_text_before(pos_, tag, sign, false);
    line_starting_ = src_[body - 1] == '\n';
    for (size_t i = src_.find("{%", body); i != std::string_view::npos; i = src_.find("{%", i + 1)) {
      size_t q = i + 2;
      const char end_sign = q < src_.size() && (src_[q] == '-' || src_[q] == '+') ? src_[q] : 0;
      q = skip_space(src_, q + (end_sign ? 1 : 0));
      if (src_.compare(q, 6, "endraw") != 0) continue;
      const size_t end = block_end_at(skip_space(src_, q + 6));
      if (end == std::string_view::npos) continue;
      pos_ = body;
      emit_text_before(body, i, end_sign, false);
      finish_at(end);
      return true;
    }
    error(tag, "missing end of raw directive");
  }

  void lex_expression(size_t tag, size_t p, bool is_variable) {
    std::vector<char> balance;  // closing brackets expected
    while (true) {
      if (balance.empty()) {
        size_t end = std::string_view::npos;
        if (!is_variable) {
          end = block_end_at(p);
        } else if (src_.compare(p, 3, "-}}") == 0) {
          end = skip_space(src_, p + 3);
        } else if (src_.compare(p, 2, "}}") == 0) {
          end = p + 2;
        }
        if (end != std::string_view::npos) {
          tokens_.push_back({is_variable ? token_kind::variable_end : token_kind::block_end, p, {}});
          return finish_at(end);
        }
      }
      if (p >= src_.size()) {
        error(tag, is_variable ? "unexpected end of template: \"}}\" expected" : "unexpected end of template: \"%}\" expected");
      }
      if (const size_t n = space_at(src_, p)) {
        p += n;
        continue;
      }
      p = lex_one(p, balance);
    }
  }

  size_t lex_one(size_t p, std::vector<char>& balance) {
    const char c = src_[p];
    if (is_dec(c)) return lex_number(p);
    if (is_name_start(c)) {
      size_t e = p;
      while (e < src_.size() && is_name_char(src_[e])) ++e;
      tokens_.push_back({token_kind::name, p, std::string(src_.substr(p, e - p))});
      return e;
    }
    if (c == '\'' || c == '"') return lex_string(p);
    for (std::string_view op : operators) {
      if (src_.compare(p, op.size(), op) != 0) continue;
      if (op == "(" || op == "[" || op == "{") {
        balance.push_back(op == "(" ? ')' : op == "[" ? ']' : '}');
      } else if (op == ")" || op == "]" || op == "}") {
        if (balance.empty()) error(p, "unexpected '" + std::string(op) + "'");
        if (balance.back() != op[0]) {
          error(p, "unexpected '" + std::string(op) + "', expected '" + std::string(1, balance.back()) + "'");
        }
        balance.pop_back();
      }
      tokens_.push_back({token_kind::op, p, std::string(op)});
      return p + op.size();
    }
    error(p, "unexpected character '" + std::string(src_.substr(p, unicode::decode(src_, p).length)) + "'");
  }

  // Digits with single underscores between them ("1_000"); returns the end, or p if none.
  size_t digits(size_t p, bool (*ok)(char)) const {
    size_t e = p;
    while (e < src_.size()) {
      if (ok(src_[e])) {
        ++e;
      } else if (src_[e] == '_' && e > p && e + 1 < src_.size() && ok(src_[e + 1])) {
        ++e;
      } else {
        break;
      }
    }
    return e;
  }

  size_t lex_number(size_t p) {
    const auto strip = [](std::string_view s) {
      std::string r;
      for (char ch : s) {
        if (ch != '_') r.push_back(ch);
      }
      return r;
    };
    // Floats first, unless right after a dot ("x.0.1" is two subscripts).
    if (p == 0 || src_[p - 1] != '.') {
      size_t e = digits(p, is_dec);
      size_t f = e;
      bool is_float = false;
      if (f < src_.size() && src_[f] == '.' && f + 1 < src_.size() && is_dec(src_[f + 1])) {
        f = digits(f + 1, is_dec);
        is_float = true;
      }
      if (f < src_.size() && (src_[f] == 'e' || src_[f] == 'E')) {
        size_t x = f + 1;
        if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
        const size_t xe = digits(x, is_dec);
        if (xe > x) f = xe, is_float = true;
      }
      if (is_float) {
        token t{token_kind::floating, p, std::string(src_.substr(p, f - p))};
        t.float_value = std::strtod(strip(t.value).c_str(), nullptr);
        tokens_.push_back(std::move(t));
        return f;
      }
    }
    int base = 10;
    size_t start = p, e;
    const char prefix = p + 1 < src_.size() && src_[p] == '0' ? static_cast<char>(src_[p + 1] | 0x20) : 0;
    if (prefix == 'b' || prefix == 'o' || prefix == 'x') {
      base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : 16;
      start = p + 2;
      if (start < src_.size() && src_[start] == '_') ++start;
      e = digits(start, base == 2 ? is_bin : base == 8 ? is_oct : is_hex);
      if (e == start) error(p, "invalid integer literal");
    } else if (src_[p] == '0') {
      e = digits(p, is_zero);
    } else {
      e = digits(p, is_dec);
    }
    token t{token_kind::integer, p, std::string(src_.substr(p, e - p))};
    errno = 0;
    const std::string d = strip(src_.substr(start, e - start));
    const unsigned long long v = std::strtoull(d.c_str(), nullptr, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX)) error(p, "integer literal out of range");
    t.int_value = static_cast<int64_t>(v);
    tokens_.push_back(std::move(t));
    return e;
  }

  size_t lex_string(size_t p) {
    const char quote = src_[p];
    std::string out;
    size_t i = p + 1;
    while (true) {
      if (i >= src_.size()) error(p, "unterminated string literal");
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        out.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) error(p, "unterminated string literal");
      i = unescape(i, out);
    }
    tokens_.push_back({token_kind::string, p, std::move(out)});
    return i + 1;
  }

  // Python's unicode-escape decoding of the escape at s[i] == '\\'; returns the index after it.
  size_t unescape(size_t i, std::string& out) const {
    const char e = src_[i + 1];
    const auto hex = [&](size_t from, size_t n) {
      if (from + n > src_.size()) error(i, "truncated \\" + std::string(1, e) + " escape");
      char32_t v = 0;
      for (size_t k = from; k < from + n; ++k) {
        const char h = src_[k];
        if (!is_hex(h)) error(i, "truncated \\" + std::string(1, e) + " escape");
        v = v * 16 + static_cast<char32_t>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
      }
      return v;
    };
    switch (e) {
      case '\n': return i + 2;  // line continuation
      case '\\': out.push_back('\\'); return i + 2;
      case '\'': out.push_back('\''); return i + 2;
      case '"': out.push_back('"'); return i + 2;
      case 'a': out.push_back('\a'); return i + 2;
      case 'b': out.push_back('\b'); return i + 2;
      case 'f': out.push_back('\f'); return i + 2;
      case 'n': out.push_back('\n'); return i + 2;
      case 'r': out.push_back('\r'); return i + 2;
      case 't': out.push_back('\t'); return i + 2;
      case 'v': out.push_back('\v'); return i + 2;
      case 'x': unicode::append_utf8(out, hex(i + 2, 2)); return i + 4;
      case 'u': append_code_point(out, hex(i + 2, 4)); return i + 6;
      case 'U': {
        const char32_t v = hex(i + 2, 8);
        if (v > 0x10FFFF) error(i, "illegal Unicode character in \\U escape");
        append_code_point(out, v);
        return i + 10;
      }
      case 'N': error(i, "\\N{...} escapes are not supported");
      default:
        if (e >= '0' && e <= '7') {
          size_t k = i + 1;
          char32_t v = 0;
          while (k < src_.size() && k < i + 4 && src_[k] >= '0' && src_[k] <= '7') v = v * 8 + static_cast<char32_t>(src_[k++] - '0');
          unicode::append_utf8(out, v);
          return k;
        }
        out.push_back('\\');  // unknown escapes stay as written
        return i + 1;
    }
  }

  static void append_code_point(std::string& out, char32_t v) {
    unicode::append_utf8(out, v >= 0xD800 && v <= 0xDFFF ? 0xFFFD : v);  // lone surrogates
  }

  std::string_view src_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<token> tokens_;
};

}  // namespace

std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::vector<token> lex(std::string_view source) { return lexer(source).run(); }

source_position position_of(std::string_view source, size_t offset) {
  offset = std::min(offset, source.size());
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (source[i] == '\n') ++line, line_start = i + 1;
  }
  return {line, unicode::count_chars(source.substr(line_start, offset - line_start)) + 1};
}

}  // namespace hearth::jinja

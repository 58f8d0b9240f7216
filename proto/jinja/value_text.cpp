#include "proto/jinja/value_text.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "proto/jinja/error.h"
#include "proto/jinja/object.h"
#include "proto/jinja/unicode.h"

namespace hearth::jinja {

namespace {

constexpr int max_object_depth = static_cast<int>(max_value_depth);

void append_hex_escape(std::string& out, char prefix, uint32_t cp, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "\\%c%0*x", prefix, digits, cp);
  out += buf;
}

// One character of a string's repr.
void append_repr_char(std::string& out, std::string_view s, size_t pos, char quote, size_t& advance) {
  const unicode::decoded d = unicode::decode(s, pos);
  advance = d.length;
  const char32_t cp = d.cp;
  if (!d.valid) return append_hex_escape(out, 'x', static_cast<unsigned char>(s[pos]), 2);
  if (cp == static_cast<char32_t>(quote) || cp == '\\') {
    out.push_back('\\');
    out.push_back(static_cast<char>(cp));
  } else if (cp == '\t') {
    out += "\\t";
  } else if (cp == '\n') {
    out += "\\n";
  } else if (cp == '\r') {
    out += "\\r";
  } else if (cp < 0x20 || cp == 0x7F) {
    append_hex_escape(out, 'x', cp, 2);
  } else if (cp < 0x7F || unicode::is_printable(cp)) {
    out.append(s.substr(pos, d.length));
  } else if (cp <= 0xFF) {
    append_hex_escape(out, 'x', cp, 2);
  } else if (cp <= 0xFFFF) {
    append_hex_escape(out, 'u', cp, 4);
  } else {
    append_hex_escape(out, 'U', cp, 8);
  }
}

void append_sequence_repr(text& out, const list_data& l, int depth) {
  if (l.generator) {
    out.append("<generator object>");
    return;
  }
  out.append(l.tuple ? "(" : "[");
  for (size_t i = 0; i < l.items.size(); ++i) {
    if (i) out.append(", ");
    append_repr(out, l.items[i], depth + 1);
  }
  if (l.tuple && l.items.size() == 1) out.append(",");
  out.append(l.tuple ? ")" : "]");
}

}  // namespace

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  (void)ec;  // 64 bytes always suffice for a double
  std::string_view sci(buf, static_cast<size_t>(end - buf));
  const bool negative = sci.front() == '-';
  if (negative) sci.remove_prefix(1);
  const size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+'), sci.data() + sci.size(), exponent);
  std::string out = negative ? "-" : "";
  const int ndigits = static_cast<int>(digits.size());
  if (exponent < -4 || exponent >= 16) {
    out += digits[0];
    if (ndigits > 1) out += "." + digits.substr(1);
    char exp[16];
    std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return out + exp;
  }
  const int point = exponent + 1;  // digits before the decimal point
  if (point <= 0) return out + "0." + std::string(static_cast<size_t>(-point), '0') + digits;
  if (point >= ndigits) return out + digits + std::string(static_cast<size_t>(point - ndigits), '0') + ".0";
  return out + digits.substr(0, static_cast<size_t>(point)) + "." + digits.substr(static_cast<size_t>(point));
}

void append_string_repr(text& out, const text& s) {
  const std::string_view v = s.view();
  const char quote = v.find('\'') != std::string_view::npos && v.find('"') == std::string_view::npos ? '"' : '\'';
  std::string r(1, quote);
  r.reserve(v.size() + 2);
  for (size_t i = 0; i < v.size();) {
    size_t n = 1;
    append_repr_char(r, v, i, quote, n);
    i += n;
  }
  r.push_back(quote);
  out.append(r, s.has_user());
}

std::string to_plain_str(const value& v) {
  switch (v.type()) {
    case value::kind::undefined: return "";
    case value::kind::none: return "None";
    case value::kind::boolean: return v.as_bool() ? "True" : "False";
    case value::kind::integer: return std::to_string(v.as_int());
    case value::kind::floating: return float_repr(v.as_float());
    default: {
      text t;
      append_str(t, v);
      return t.str();
    }
  }
}

void append_str(text& out, const value& v) {
  switch (v.type()) {
    case value::kind::string: out.append(v.as_text()); return;
    case value::kind::list:
    case value::kind::dict:
    case value::kind::object: append_repr(out, v); return;
    default: out.append(to_plain_str(v)); return;
  }
}

text to_str(const value& v) {
  if (v.is_string()) return v.as_text();
  text t;
  append_str(t, v);
  return t;
}

void append_repr(text& out, const value& v, int depth) {
  if (depth > max_object_depth) fail("LimitError", "a value nests too deeply to print");
  const size_t start = out.size();
  switch (v.type()) {
    case value::kind::undefined: out.append("Undefined"); return;
    case value::kind::string: append_string_repr(out, v.as_text()); return;
    case value::kind::list: append_sequence_repr(out, v.as_list(), depth); break;
    case value::kind::dict: {
      out.append("{");
      bool first = true;
      for (const auto& [k, e] : v.as_dict().items) {
        if (!first) out.append(", ");
        first = false;
        append_repr(out, k, depth + 1);
        out.append(": ");
        append_repr(out, e, depth + 1);
      }
      out.append("}");
      break;
    }
    case value::kind::object: v.as_object()->repr(out, depth + 1); break;
    default: out.append(to_plain_str(v)); return;
  }
  if (out.user_within(start, out.size())) out.mark_user(start, out.size());
}

}  // namespace hearth::jinja

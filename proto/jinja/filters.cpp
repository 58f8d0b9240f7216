// The string and scalar filters, and the filter table; sequence filters are in
// filters_sequence.cpp.
#include "proto/jinja/filters.h"

#include <cmath>
#include <cstdio>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <algorithm>

#include "proto/jinja/compare.h"
#include "proto/jinja/error.h"
#include "proto/jinja/format.h"
#include "proto/jinja/interpreter.h"
#include "proto/jinja/json_io.h"
#include "proto/jinja/string_ops.h"
#include "proto/jinja/unicode.h"
#include "proto/jinja/value_text.h"

namespace hearth::jinja {

filter_fn find_sequence_filter(std::string_view name);  // filters_sequence.cpp

namespace {

value f_string(interpreter&, const value& v, const call_args& a) {
  arg_binder("string", a, {});
  return v.is_string() ? v : value::string(to_str(v));
}

value f_trim(interpreter&, const value& v, const call_args& a) {
  arg_binder b("trim", a, {"chars"});
  const value* chars = b.get(0);
  std::optional<std::string_view> set;
  if (chars && !chars->is_none()) {
    if (!chars->is_string()) type_error("trim() chars must be str");
    set = chars->str();
  }
  const text s = to_str(v);
  return value::string(strings::keep_markup(strings::strip(s, set, true, true), s));
}

// upper, lower and capitalize keep Markup (soft_str(s).upper()); Jinja2's title builds a new str.
template <text (*fn)(const text&), bool keeps_markup>
value case_filter(interpreter&, const value& v, const call_args& a) {
  arg_binder("case", a, {});
  const text s = to_str(v);
  return value::string(keeps_markup ? strings::keep_markup(fn(s), s) : fn(s));
}

value f_default(interpreter&, const value& v, const call_args& a) {
  arg_binder b("default", a, {"default_value", "boolean"});
  const bool boolean = b.get(1) && truthy(*b.get(1));
  if (v.is_undefined() || (boolean && !truthy(v))) return b.get(0) ? *b.get(0) : value::string("");
  return v;
}

value f_safe(interpreter&, const value& v, const call_args& a) {
  arg_binder("safe", a, {});
  text t = to_str(v);
  t.set_markup(true);
  return value::string(std::move(t));
}

// escape leaves Markup as it is; forceescape escapes it again.
template <bool force>
value f_escape(interpreter& in, const value& v, const call_args& a) {
  arg_binder("escape", a, {});
  if (!force && v.is_string() && v.as_text().markup()) return v;
  text out = strings::html_escape(to_str(v));
  in.charge_string(out.size());
  return value::string(std::move(out));
}

value f_replace(interpreter& in, const value& v, const call_args& a) {
  arg_binder b("replace", a, {"old", "new", "count"});
  const text old = to_str(b.require(0)), with = to_str(b.require(1));
  const value* count = b.get(2);
  const int64_t n = count && !count->is_none() ? (count->is_int() ? count->as_int() : throw failure({"TypeError", "count must be an integer"})) : -1;
  text out = strings::replace(to_str(v), old.view(), with, n);
  in.charge_string(out.size());
  return value::string(std::move(out));
}

value f_center(interpreter& in, const value& v, const call_args& a) {
  arg_binder b("center", a, {"width"});
  const value width = b.get_or(0, value::integer(80));
  if (!width.is_int()) type_error("center() width must be an integer");
  in.charge_string(static_cast<size_t>(std::clamp<int64_t>(width.as_int(), 0, INT32_MAX)));
  const text s = to_str(v);
  return value::string(strings::keep_markup(strings::pad(s, width.as_int(), " ", 0), s));
}

// Jinja2's indent: every line but the first (and blank lines only if `blank`) gets the
// indentation; `first` indents the first line too.
value f_indent(interpreter& in, const value& v, const call_args& a) {
  arg_binder b("indent", a, {"width", "first", "blank"});
  const value width = b.get_or(0, value::integer(4));
  text indentation;
  if (width.is_string()) {
    indentation = width.as_text();
  } else if (width.is_int() || width.is_bool()) {
    in.charge_string(static_cast<size_t>(std::clamp<int64_t>(width.as_int(), 0, INT32_MAX)));
    indentation = text(std::string(static_cast<size_t>(std::max<int64_t>(width.as_int(), 0)), ' '));
  } else {
    type_error("indent() width must be an integer or a string");
  }
  const bool first = b.get(1) && truthy(*b.get(1));
  const bool blank = b.get(2) && truthy(*b.get(2));
  const text input = to_str(v);
  text s = input;
  s.append("\n");
  std::vector<text> lines = strings::splitlines(s, false);
  text out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out.append("\n");
    if (i == 0 ? first : blank || !lines[i].empty()) out.append(indentation);
    out.append(lines[i]);
    in.charge_string(out.size());
  }
  return value::string(strings::keep_markup(std::move(out), input));
}

value f_format(interpreter& in, const value& v, const call_args& a) {
  if (!a.positional.empty() && !a.keyword.empty()) {
    fail("FilterArgumentError", "can't handle positional and keyword arguments at the same time");
  }
  value args;
  if (!a.keyword.empty()) {
    std::vector<std::pair<value, value>> kw;
    for (const auto& [k, x] : a.keyword) kw.emplace_back(value::string(k), x);
    args = value::dict(std::move(kw));
  } else {
    args = value::tuple(a.positional);
  }
  return value::string(percent_format(in, to_str(v), args));
}

// HF's tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
value f_tojson(interpreter& in, const value& v, const call_args& a) {
  arg_binder b("tojson", a, {"ensure_ascii", "indent", "separators", "sort_keys"});
  json_format f;
  f.ensure_ascii = b.get(0) && truthy(*b.get(0));
  if (const value* indent = b.get(1); indent && !indent->is_none()) {
    if (indent->is_string()) {
      f.indent = indent->str();
    } else if (indent->is_int() || indent->is_bool()) {
      f.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(indent->as_int(), 0, 1024)), ' ');
    } else {
      type_error("tojson() indent must be an integer or a string");
    }
    f.item_separator = ",";
  }
  if (const value* sep = b.get(2); sep && !sep->is_none()) {
    const std::shared_ptr<const list_data> parts = in.iterate(*sep);
    if (parts->items.size() != 2 || !parts->items[0].is_string() || !parts->items[1].is_string()) {
      type_error("tojson() separators must be a pair of strings");
    }
    f.item_separator = parts->items[0].str();
    f.key_separator = parts->items[1].str();
  }
  f.sort_keys = b.get(3) && truthy(*b.get(3));
  text out;
  append_json(out, v, f);
  in.charge_string(out.size());
  return value::string(std::move(out));
}

value f_abs(interpreter&, const value& v, const call_args& a) {
  arg_binder("abs", a, {});
  if (v.is_float()) return value::floating(std::fabs(v.as_float()));
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN) fail("OverflowError", "integer result does not fit in 64 bits");
    return value::integer(std::llabs(v.as_int()));
  }
  if (v.is_undefined()) interpreter::undefined_error(v);
  type_error("bad operand type for abs(): '" + std::string(type_name(v)) + "'");
}

// Python's float(str): optional whitespace and sign, digits with single underscores, inf, nan.
std::optional<double> parse_float(std::string_view s) {
  std::string clean;
  size_t b = 0, e = s.size();
  while (b < e && unicode::is_space(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && unicode::is_space(static_cast<unsigned char>(s[e - 1]))) --e;
  for (size_t i = b; i < e; ++i) {
    if (s[i] == '_') {
      if (i == b || i + 1 == e || !std::isdigit(static_cast<unsigned char>(s[i - 1])) || !std::isdigit(static_cast<unsigned char>(s[i + 1]))) return std::nullopt;
      continue;
    }
    clean.push_back(s[i]);
  }
  if (clean.empty() || clean.find_first_of("xXpP") != std::string::npos) return std::nullopt;  // no hex floats
  char* end = nullptr;
  const double d = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return std::nullopt;
  return d;
}

value f_float(interpreter&, const value& v, const call_args& a) {
  arg_binder b("float", a, {"default"});
  const value fallback = b.get_or(0, value::floating(0.0));
  if (v.is_number()) return value::floating(v.as_float());
  if (v.is_string()) {
    if (std::optional<double> d = parse_float(v.str())) return value::floating(*d);
  }
  return fallback;
}

value f_int(interpreter&, const value& v, const call_args& a) {
  arg_binder b("int", a, {"default", "base"});
  const value fallback = b.get_or(0, value::integer(0));
  const int64_t base = b.get(1) && b.get(1)->is_int() ? b.get(1)->as_int() : 10;
  if (v.is_int() || v.is_bool()) return value::integer(v.as_int());
  if (v.is_float()) {
    const double d = v.as_float();
    return std::fabs(d) < 9.2e18 ? value::integer(static_cast<int64_t>(std::trunc(d))) : fallback;
  }
  if (!v.is_string()) return fallback;
  std::string s;
  for (char c : v.str()) {
    if (c != '_') s.push_back(c);
  }
  if (base >= 2 && base <= 36) {
    errno = 0;
    char* end = nullptr;
    const long long n = std::strtoll(s.c_str(), &end, static_cast<int>(base));
    while (end && *end && unicode::is_space(static_cast<unsigned char>(*end))) ++end;
    if (errno == 0 && end && *end == '\0' && !s.empty()) return value::integer(n);
  }
  if (std::optional<double> d = parse_float(v.str()); d && std::fabs(*d) < 9.2e18) {
    return value::integer(static_cast<int64_t>(std::trunc(*d)));
  }
  return fallback;
}

value f_round(interpreter&, const value& v, const call_args& a) {
  arg_binder b("round", a, {"precision", "method"});
  const int64_t precision = b.get(0) && b.get(0)->is_int() ? b.get(0)->as_int() : 0;
  const std::string method = b.get(1) && b.get(1)->is_string() ? b.get(1)->str() : "common";
  if (!v.is_number()) type_error("type " + std::string(type_name(v)) + " doesn't define __round__ method");
  const double x = v.as_float();
  if (method == "common") {
    if (!v.is_float() && precision >= 0) return value::integer(v.as_int());
    if (!std::isfinite(x) || precision > 300 || precision < -300) return value::floating(x);
    // printf rounds the exact binary value half-to-even, as Python's round() does.
    char buf[512];
    if (precision >= 0) {
      std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(precision), x);
      return value::floating(std::strtod(buf, nullptr));
    }
    const double scale = std::pow(10.0, static_cast<double>(-precision));
    return value::floating(std::nearbyint(x / scale) * scale);
  }
  if (method != "ceil" && method != "floor") fail("FilterArgumentError", "method must be common, ceil or floor");
  const double scale = std::pow(10.0, static_cast<double>(precision));
  return value::floating((method == "ceil" ? std::ceil(x * scale) : std::floor(x * scale)) / scale);
}

value f_truncate(interpreter&, const value& v, const call_args& a) {
  arg_binder b("truncate", a, {"length", "killwords", "end", "leeway"});
  const text s = to_str(v);
  const int64_t length = b.get(0) && b.get(0)->is_int() ? b.get(0)->as_int() : 255;
  const bool killwords = b.get(1) && truthy(*b.get(1));
  const text end = b.get(2) ? to_str(*b.get(2)) : text("...");
  const int64_t leeway = b.get(3) && b.get(3)->is_int() ? b.get(3)->as_int() : 5;
  const auto end_len = static_cast<int64_t>(unicode::count_chars(end.view()));
  if (length < end_len) fail("AssertionError", "expected length >= " + std::to_string(end_len) + ", got " + std::to_string(length));
  if (static_cast<int64_t>(unicode::count_chars(s.view())) <= length + leeway) return value::string(s);
  text head = strings::slice(s, 0, length - end_len, 1);
  if (!killwords) head = strings::split(head, std::string_view(" "), 1, true).front();
  head.append(end);
  return value::string(std::move(head));
}

bool is_word_char(char32_t cp) {
  if (cp < 0x80) return unicode::is_alnum(cp) || cp == '_';
  return unicode::is_printable(cp) && !unicode::is_space(cp) && !(cp >= 0x2000 && cp <= 0x206F) &&
         !(cp >= 0x3000 && cp <= 0x303F) && !(cp >= 0xFF00 && cp <= 0xFF0F);
}

value f_wordcount(interpreter&, const value& v, const call_args& a) {
  arg_binder("wordcount", a, {});
  const text s = to_str(v);
  int64_t n = 0;
  bool in_word = false;
  for (size_t i = 0; i < s.size();) {
    const unicode::decoded d = unicode::decode(s.view(), i);
    i += d.length;
    const bool w = d.valid && is_word_char(d.cp);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return value::integer(n);
}

value f_attr(interpreter& in, const value& v, const call_args& a) {
  arg_binder b("attr", a, {"name"});
  const value& name = b.require(0);
  if (!name.is_string()) type_error("attr() name must be a string");
  return in.get_attribute(v, name.str());
}

constexpr filter_entry value_filters[] = {
    {"string", f_string},   {"trim", f_trim},
    {"upper", case_filter<strings::upper, true>}, {"lower", case_filter<strings::lower, true>},
    {"title", case_filter<strings::jinja_title, false>}, {"capitalize", case_filter<strings::capitalize, true>},
    {"default", f_default}, {"d", f_default},         {"safe", f_safe},
    {"e", f_escape<false>}, {"escape", f_escape<false>}, {"forceescape", f_escape<true>},
    {"replace", f_replace}, {"center", f_center},     {"indent", f_indent},
    {"format", f_format},   {"tojson", f_tojson},     {"abs", f_abs},
    {"float", f_float},     {"int", f_int},           {"round", f_round},
    {"truncate", f_truncate}, {"wordcount", f_wordcount}, {"attr", f_attr},
};

}  // namespace

filter_fn find_filter(std::string_view name) {
  for (const filter_entry& f : value_filters) {
    if (f.name == name) return f.fn;
  }
  return find_sequence_filter(name);
}

}  // namespace hearth::jinja

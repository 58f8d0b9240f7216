// str.format: replacement fields {name.attr[key]!conversion:spec} and the format-spec
// mini-language for str, int and float ([[fill]align][sign][#][0][width][,|_][.precision][type]).
#include <cmath>
#include <cstdio>

#include "proto/jinja/error.h"
#include "proto/jinja/format.h"
#include "proto/jinja/interpreter.h"
#include "proto/jinja/string_ops.h"
#include "proto/jinja/unicode.h"
#include "proto/jinja/value_text.h"

namespace hearth::jinja {

namespace {

struct spec {
  std::string fill = " ";
  char align = 0, sign = '-', type = 0, grouping = 0;
  bool alternate = false;
  int64_t width = -1, precision = -1;
};

int64_t read_number(std::string_view s, size_t& i) {
  int64_t n = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) n = std::min<int64_t>(n * 10 + (s[i] - '0'), max_format_field + 1);
  return n;
}

spec parse_spec(std::string_view s) {
  spec sp;
  size_t i = 0;
  const auto is_align = [](char c) { return c == '<' || c == '>' || c == '=' || c == '^'; };
  if (!s.empty()) {
    const size_t first = unicode::decode(s, 0).length;
    if (first < s.size() && is_align(s[first])) {
      sp.fill = std::string(s.substr(0, first));
      sp.align = s[first];
      i = first + 1;
    } else if (is_align(s[0])) {
      sp.align = s[0];
      i = 1;
    }
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) sp.sign = s[i++];
  if (i < s.size() && s[i] == 'z') ++i;
  if (i < s.size() && s[i] == '#') sp.alternate = true, ++i;
  if (i < s.size() && s[i] == '0') {
    if (!sp.align) sp.fill = "0", sp.align = '=';
    ++i;
  }
  if (i < s.size() && s[i] >= '0' && s[i] <= '9') sp.width = read_number(s, i);
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) sp.grouping = s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    sp.precision = read_number(s, i);
  }
  if (i < s.size()) sp.type = s[i++];
  if (i != s.size()) fail("ValueError", "Invalid format specifier");
  if (sp.width > max_format_field || sp.precision > max_format_field) fail("LimitError", "format field too wide");
  return sp;
}

// Aligns body (digits after any sign) in sp.width.
text align(const text& sign, const text& body, const spec& sp, char default_align) {
  const char a = sp.align ? sp.align : default_align;
  const int64_t len = static_cast<int64_t>(unicode::count_chars(sign.view()) + unicode::count_chars(body.view()));
  const int64_t margin = std::max<int64_t>(0, sp.width - len);
  text out;
  const auto fill = [&](int64_t n) {
    for (int64_t k = 0; k < n; ++k) out.append(sp.fill);
  };
  if (a == '=') {
    out.append(sign);
    fill(margin);
    out.append(body);
    return out;
  }
  const int64_t left = a == '<' ? 0 : a == '>' ? margin : margin / 2;
  fill(left);
  out.append(sign);
  out.append(body);
  fill(margin - left);
  return out;
}

std::string group_digits(const std::string& digits, char sep, size_t every) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i && (n - i) % every == 0) out.push_back(sep);
    out.push_back(digits[i]);
  }
  return out;
}

text format_int(int64_t v, const spec& sp) {
  char type = sp.type ? sp.type : 'd';
  if (type == 'n') type = 'd';
  const unsigned long long mag = v < 0 ? -static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
  std::string digits, prefix;
  char buf[80];
  switch (type) {
    case 'd': std::snprintf(buf, sizeof buf, "%llu", mag); break;
    case 'x': std::snprintf(buf, sizeof buf, "%llx", mag), prefix = "0x"; break;
    case 'X': std::snprintf(buf, sizeof buf, "%llX", mag), prefix = "0X"; break;
    case 'o': std::snprintf(buf, sizeof buf, "%llo", mag), prefix = "0o"; break;
    case 'b': {
      std::string b;
      for (unsigned long long m = mag; m; m >>= 1) b.insert(b.begin(), static_cast<char>('0' + (m & 1)));
      std::snprintf(buf, sizeof buf, "%s", b.empty() ? "0" : b.c_str());
      prefix = "0b";
      break;
    }
    case 'c': {
      if (v < 0 || v > 0x10FFFF) fail("OverflowError", "%c arg not in range(0x110000)");
      std::string c;
      unicode::append_utf8(c, static_cast<char32_t>(v));
      return align({}, text(c), sp, '<');
    }
    default: fail("ValueError", std::string("Unknown format code '") + type + "' for object of type 'int'");
  }
  digits = buf;
  if (sp.grouping) digits = group_digits(digits, sp.grouping, type == 'd' ? 3 : 4);
  std::string sign = v < 0 ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
  if (sp.alternate) sign += prefix;
  return align(text(sign), text(digits), sp, '>');
}

text format_float(double d, const spec& sp) {
  char type = sp.type;
  std::string body;
  const bool negative = std::signbit(d) && !std::isnan(d);
  const double mag = std::fabs(d);
  char buf[512];
  const int precision = static_cast<int>(std::min<int64_t>(sp.precision < 0 ? 6 : sp.precision, 300));
  if (!type || type == 'n') {
    if (sp.precision < 0) {
      body = float_repr(mag);
    } else {
      std::snprintf(buf, sizeof buf, "%.*g", std::max(precision, 1), mag);
      body = buf;
      if (std::isfinite(mag) && body.find_first_of(".e") == std::string::npos) body += ".0";
    }
  } else if (type == '%') {
    std::snprintf(buf, sizeof buf, "%.*f", precision, mag * 100);
    body = std::string(buf) + "%";
  } else if (std::string_view("eEfFgG").find(type) != std::string_view::npos) {
    const char f[] = {'%', '.', '*', type, '\0'};
    std::snprintf(buf, sizeof buf, f, precision, mag);
    body = buf;
  } else {
    fail("ValueError", std::string("Unknown format code '") + type + "' for object of type 'float'");
  }
  if (sp.grouping) {
    const size_t end = body.find_first_not_of("0123456789");
    body = group_digits(body.substr(0, end), sp.grouping, 3) + (end == std::string::npos ? "" : body.substr(end));
  }
  const std::string sign = negative ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
  return align(text(sign), text(body), sp, '>');
}

text format_value(const value& v, std::string_view spec_text) {
  if (spec_text.empty()) return to_str(v);
  const spec sp = parse_spec(spec_text);
  if (v.is_string() || (!v.is_number())) {
    if (!v.is_string() && !v.is_undefined() && !v.is_none()) {
      type_error("unsupported format string passed to " + std::string(type_name(v)) + ".__format__");
    }
    if (sp.type && sp.type != 's') {
      fail("ValueError", std::string("Unknown format code '") + sp.type + "' for object of type 'str'");
    }
    text s = to_str(v);
    if (sp.precision >= 0) s = strings::slice(s, 0, sp.precision, 1);
    return align({}, s, sp, '<');
  }
  const bool float_type = sp.type && std::string_view("eEfFgG%").find(sp.type) != std::string_view::npos;
  if (v.is_float() || float_type) return format_float(v.as_float(), sp);
  return format_int(v.as_int(), sp);
}

// One replacement field's text between the braces: name [! conversion] [: spec].
struct field {
  std::string_view name;
  char conversion = 0;
  std::string_view spec;
};

field parse_field(std::string_view text) {
  size_t end_name = 0;
  for (int bracket = 0; end_name < text.size(); ++end_name) {
    const char c = text[end_name];
    if (c == '[') ++bracket;
    if (c == ']') --bracket;
    if (!bracket && (c == '!' || c == ':')) break;
  }
  field f{text.substr(0, end_name)};
  size_t rest = end_name;
  if (rest < text.size() && text[rest] == '!') {
    if (rest + 1 >= text.size()) fail("ValueError", "end of string while looking for conversion specifier");
    f.conversion = text[rest + 1];
    rest += 2;
  }
  if (rest < text.size()) {
    if (text[rest] != ':') fail("ValueError", "expected ':' after conversion specifier");
    f.spec = text.substr(rest + 1);
  }
  return f;
}

// Which argument "{}" and "{0}" take; Python refuses mixing the two styles.
struct numbering {
  size_t next = 0;
  bool manual = false, automatic = false;
};

// The value a field name names: an argument ("", a number or a keyword), then .attr and [key]
// through the sandbox's rules.
value field_value(interpreter& in, std::string_view name, const call_args& args, numbering& n) {
  size_t k = 0;
  while (k < name.size() && name[k] != '.' && name[k] != '[') ++k;
  const std::string_view head = name.substr(0, k);
  value v;
  if (head.empty() || (head[0] >= '0' && head[0] <= '9')) {
    size_t index;
    if (head.empty()) {
      if (n.manual) fail("ValueError", "cannot switch from manual field specification to automatic field numbering");
      n.automatic = true;
      index = n.next++;
    } else {
      if (n.automatic) fail("ValueError", "cannot switch from automatic field numbering to manual field specification");
      n.manual = true;
      size_t p = 0;
      index = static_cast<size_t>(read_number(head, p));
    }
    if (index >= args.positional.size()) fail("IndexError", "Replacement index " + std::to_string(index) + " out of range for positional args tuple");
    v = args.positional[index];
  } else {
    const value* kw = args.keyword_arg(head);
    if (!kw) fail("KeyError", "'" + std::string(head) + "'");
    v = *kw;
  }
  while (k < name.size()) {
    if (name[k] == '.') {
      size_t e = k + 1;
      while (e < name.size() && name[e] != '.' && name[e] != '[') ++e;
      v = in.get_attribute(v, name.substr(k + 1, e - k - 1));
      k = e;
    } else {
      const size_t e = name.find(']', k);
      if (e == std::string_view::npos) fail("ValueError", "Missing ']' in format string");
      const std::string_view key = name.substr(k + 1, e - k - 1);
      size_t p = 0;
      const int64_t number = read_number(key, p);
      v = in.get_item(v, !key.empty() && p == key.size() ? value::integer(number) : value::string(key));
      k = e + 1;
    }
  }
  return v;
}

value converted(const value& v, char conversion) {
  if (conversion == 'r' || conversion == 'a') {
    text r;
    append_repr(r, v);
    return value::string(std::move(r));
  }
  if (conversion == 's') return value::string(to_str(v));
  if (conversion) fail("ValueError", std::string("Unknown conversion specifier ") + conversion);
  return v;
}

// The end of the replacement field opened at `brace` (its closing brace), nested braces counted.
size_t field_end(std::string_view f, size_t brace) {
  size_t close = brace + 1;
  for (int depth = 1, bracket = 0; close < f.size(); ++close) {
    const char c = f[close];
    if (c == '[') ++bracket;
    if (c == ']') bracket = std::max(0, bracket - 1);
    if (bracket) continue;
    if (c == '{') ++depth;
    if (c == '}' && --depth == 0) return close;
  }
  fail("ValueError", "expected '}' before end of string");
}

text brace_format_at(interpreter& in, const text& fmt, const call_args& args, int depth) {
  if (depth > 2) fail("ValueError", "Max string recursion exceeded");
  const std::string_view f = fmt.view();
  text out;
  numbering n;
  size_t i = 0;
  while (i < f.size()) {
    const size_t brace = f.find_first_of("{}", i);
    if (brace == std::string_view::npos) break;
    out.append(fmt, i, brace);
    if (brace + 1 < f.size() && f[brace + 1] == f[brace]) {  // "{{" or "}}"
      out.append(f.substr(brace, 1));
      i = brace + 2;
      continue;
    }
    if (f[brace] == '}') fail("ValueError", "Single '}' encountered in format string");
    const size_t close = field_end(f, brace);
    const field fd = parse_field(f.substr(brace + 1, close - brace - 1));
    const value v = converted(field_value(in, fd.name, args, n), fd.conversion);
    // A spec may itself hold replacement fields ("{:{width}}").
    const text spec = fd.spec.find('{') != std::string_view::npos
                          ? brace_format_at(in, text(std::string(fd.spec)), args, depth + 1)
                          : text(std::string(fd.spec));
    out.append(format_value(v, spec.view()));
    in.charge_string(out.size());
    i = close + 1;
  }
  out.append(fmt, i, f.size());
  return out;
}

}  // namespace

text brace_format(interpreter& in, const text& fmt, const call_args& args) { return brace_format_at(in, fmt, args, 1); }

}  // namespace hearth::jinja

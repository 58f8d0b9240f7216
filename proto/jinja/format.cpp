#include "proto/jinja/format.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "proto/jinja/error.h"
#include "proto/jinja/interpreter.h"
#include "proto/jinja/string_ops.h"
#include "proto/jinja/unicode.h"
#include "proto/jinja/value_text.h"

namespace hearth::jinja {

namespace {

std::string c_format(const std::string& spec, long long v) {
  const int n = std::snprintf(nullptr, 0, spec.c_str(), v);
  std::string s(static_cast<size_t>(n), '\0');
  std::snprintf(s.data(), s.size() + 1, spec.c_str(), v);
  return s;
}

std::string c_format(const std::string& spec, double v) {
  const int n = std::snprintf(nullptr, 0, spec.c_str(), v);
  std::string s(static_cast<size_t>(n), '\0');
  std::snprintf(s.data(), s.size() + 1, spec.c_str(), v);
  return s;
}

void pad_to(text& out, const text& s, int64_t width, bool left) {
  out.append(strings::pad(s, width, " ", left ? -1 : 1));
}

// ---- printf-style ----

struct percent_spec {
  std::string flags;
  int64_t width = -1, precision = -1;
  char type = 's';
};

// %s, %r, %a and %c: the value as text, padded.
void percent_string(text& out, const percent_spec& sp, const value& v, bool left) {
  text t;
  if (sp.type == 'c') {
    std::string c;
    if (v.is_string() && unicode::count_chars(v.str()) == 1) {
      c = v.str();
    } else if ((v.is_int() || v.is_bool()) && v.as_int() >= 0 && v.as_int() <= 0x10FFFF) {
      unicode::append_utf8(c, static_cast<char32_t>(v.as_int()));
    } else {
      type_error("%c requires int or char");
    }
    t = text(c, v.is_string() && v.as_text().has_user());
  } else if (sp.type == 's') {
    t = to_str(v);
  } else {
    append_repr(t, v);
  }
  if (sp.type != 'c' && sp.precision >= 0) t = strings::slice(t, 0, sp.precision, 1);
  pad_to(out, t, sp.width, left);
}

// %x, %X, %o: Python's digits and prefixes ("%#o" is 0o10, not C's 010).
std::string percent_radix(const percent_spec& sp, const value& v) {
  if (v.is_float()) type_error(std::string("%") + sp.type + " format: an integer is required, not float");
  const long long x = v.as_int();
  std::string digits = c_format(std::string("%") + (sp.type == 'o' ? "llo" : sp.type == 'x' ? "llx" : "llX"),
                                static_cast<long long>(x < 0 ? -static_cast<unsigned long long>(x) : x));
  if (sp.flags.find('#') != std::string::npos) digits = (sp.type == 'o' ? "0o" : sp.type == 'x' ? "0x" : "0X") + digits;
  if (x < 0) return "-" + digits;
  if (sp.flags.find('+') != std::string::npos) return "+" + digits;
  if (sp.flags.find(' ') != std::string::npos) return " " + digits;
  return digits;
}

void percent_one(interpreter& in, text& out, const percent_spec& sp, const value& v) {
  const bool left = sp.flags.find('-') != std::string::npos;
  if (sp.type == 's' || sp.type == 'r' || sp.type == 'a') return percent_string(out, sp, v, left);
  if (v.is_undefined()) interpreter::undefined_error(v);
  if (sp.type == 'c') return percent_string(out, sp, v, left);
  if (!v.is_number()) {
    type_error(std::string("%") + sp.type + " format: a real number is required, not " + std::string(type_name(v)));
  }
  std::string spec = "%" + sp.flags;
  if (sp.width >= 0) spec += std::to_string(sp.width);
  if (sp.precision >= 0) spec += "." + std::to_string(sp.precision);
  std::string s;
  switch (sp.type) {
    case 'd': case 'i': case 'u': {
      const double d = v.as_float();
      if (v.is_float() && !(std::fabs(d) < 9.2e18)) fail("OverflowError", "cannot convert float to a 64-bit integer");
      s = c_format(spec + "lld", v.is_float() ? static_cast<long long>(std::trunc(d)) : static_cast<long long>(v.as_int()));
      break;
    }
    case 'x': case 'X': case 'o': return pad_to(out, text(percent_radix(sp, v)), sp.width, left);
    case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
      s = c_format(spec + sp.type, v.as_float());
      break;
    default: fail("ValueError", std::string("unsupported format character '") + sp.type + "'");
  }
  in.charge_string(s.size());
  out.append(s);
}

// The arguments of fmt % args, taken in order.
struct percent_args {
  std::vector<value> positional;
  size_t next = 0;

  const value& take() {
    if (next >= positional.size()) type_error("not enough arguments for format string");
    return positional[next++];
  }
  int64_t take_int() {
    const value& v = take();
    if (!v.is_int() && !v.is_bool()) type_error("* wants int");
    return v.as_int();
  }
};

[[noreturn]] void incomplete() { fail("ValueError", "incomplete format"); }

// "(key)" at f[p]: the mapping's value; p moves past it.
value percent_key(std::string_view f, size_t& p, const value& mapping) {
  int depth = 1;
  size_t q = p + 1;
  for (; q < f.size() && depth > 0; ++q) depth += f[q] == '(' ? 1 : f[q] == ')' ? -1 : 0;
  if (depth) fail("ValueError", "incomplete format key");
  if (!mapping.is_dict()) type_error("format requires a mapping");
  const std::string key(f.substr(p + 1, q - p - 2));
  const value* v = mapping.as_dict().find(key);
  if (!v) fail("KeyError", "'" + key + "'");
  p = q;
  return *v;
}

// A number or '*' (taken from the arguments) at f[p]; -1 when there is neither.
int64_t percent_number(std::string_view f, size_t& p, percent_args& args, int64_t none) {
  if (p >= f.size()) incomplete();
  if (f[p] == '*') {
    ++p;
    return args.take_int();
  }
  int64_t n = none;
  for (; p < f.size() && f[p] >= '0' && f[p] <= '9'; ++p) n = std::min<int64_t>(std::max<int64_t>(n, 0) * 10 + (f[p] - '0'), max_format_field + 1);
  return n;
}

// The conversion after '%' (and any "(key)"): flags, width, precision, length, type.
percent_spec parse_percent_spec(std::string_view f, size_t& p, percent_args& args) {
  percent_spec sp;
  while (p < f.size() && f[p] && std::strchr("#0- +", f[p])) sp.flags.push_back(f[p++]);
  sp.width = percent_number(f, p, args, -1);
  if (p < f.size() && f[p] == '.') {
    ++p;
    sp.precision = percent_number(f, p, args, 0);
  }
  while (p < f.size() && (f[p] == 'h' || f[p] == 'l' || f[p] == 'L')) ++p;
  if (p >= f.size()) incomplete();
  if (sp.width > max_format_field || sp.precision > max_format_field) fail("LimitError", "format field too wide");
  sp.type = f[p++];
  return sp;
}

}  // namespace

text percent_format(interpreter& in, const text& fmt, const value& args) {
  const std::string_view f = fmt.view();
  percent_args pa;
  if (args.is_list() && args.as_list().tuple) {
    pa.positional = args.as_list().items;
  } else {
    pa.positional.push_back(args);
  }
  text out;
  size_t i = 0;
  while (i < f.size()) {
    const size_t pct = f.find('%', i);
    if (pct == std::string_view::npos) break;
    out.append(fmt, i, pct);
    size_t p = pct + 1;
    if (p >= f.size()) incomplete();
    if (f[p] == '%') {
      out.append("%");
      i = p + 1;
      continue;
    }
    const bool keyed = f[p] == '(';
    const value by_key = keyed ? percent_key(f, p, args) : value();
    const percent_spec sp = parse_percent_spec(f, p, pa);
    in.charge_string(static_cast<size_t>(std::max<int64_t>(sp.width, 0)));
    percent_one(in, out, sp, keyed ? by_key : pa.take());
    i = p;
  }
  out.append(fmt, i, f.size());
  if (!args.is_dict() && pa.next < pa.positional.size()) {
    type_error("not all arguments converted during string formatting");
  }
  in.charge_string(out.size());
  return out;
}

}  // namespace hearth::jinja

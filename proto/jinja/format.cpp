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

// Bounds on widths and precisions, so a format cannot ask for an unbounded string.
constexpr int64_t max_field = 100000;

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

void percent_one(interpreter& in, text& out, const percent_spec& sp, const value& v) {
  const bool left = sp.flags.find('-') != std::string::npos;
  const int64_t width = sp.width;
  if (v.is_undefined() && sp.type != 's' && sp.type != 'r' && sp.type != 'a') interpreter::undefined_error(v);
  switch (sp.type) {
    case 's': case 'r': case 'a': {
      text t;
      if (sp.type == 's') {
        t = to_str(v);
      } else {
        append_repr(t, v);
      }
      if (sp.precision >= 0) t = strings::slice(t, 0, sp.precision, 1);
      return pad_to(out, t, width, left);
    }
    case 'c': {
      std::string c;
      if (v.is_string() && unicode::count_chars(v.str()) == 1) {
        c = v.str();
      } else if ((v.is_int() || v.is_bool()) && v.as_int() >= 0 && v.as_int() <= 0x10FFFF) {
        unicode::append_utf8(c, static_cast<char32_t>(v.as_int()));
      } else {
        type_error("%c requires int or char");
      }
      return pad_to(out, text(c, v.is_string() && v.as_text().has_user()), width, left);
    }
    default: break;
  }
  if (!v.is_number()) {
    type_error(std::string("%") + sp.type + " format: a real number is required, not " + std::string(type_name(v)));
  }
  std::string spec = "%" + sp.flags;
  if (width >= 0) spec += std::to_string(width);
  if (sp.precision >= 0) spec += "." + std::to_string(sp.precision);
  std::string s;
  switch (sp.type) {
    case 'd': case 'i': case 'u': {
      const double d = v.as_float();
      if (v.is_float() && !(std::fabs(d) < 9.2e18)) fail("OverflowError", "cannot convert float to a 64-bit integer");
      s = c_format(spec + "lld", v.is_float() ? static_cast<long long>(std::trunc(d)) : static_cast<long long>(v.as_int()));
      break;
    }
    case 'x': case 'X': case 'o': {
      if (v.is_float()) type_error(std::string("%") + sp.type + " format: an integer is required, not float");
      const long long x = v.as_int();
      std::string digits = c_format(std::string("%") + (sp.type == 'o' ? "llo" : sp.type == 'x' ? "llx" : "llX"),
                                    static_cast<long long>(x < 0 ? -static_cast<unsigned long long>(x) : x));
      if (sp.flags.find('#') != std::string::npos) digits = (sp.type == 'o' ? "0o" : sp.type == 'x' ? "0x" : "0X") + digits;
      if (x < 0) digits = "-" + digits;
      else if (sp.flags.find('+') != std::string::npos) digits = "+" + digits;
      else if (sp.flags.find(' ') != std::string::npos) digits = " " + digits;
      return pad_to(out, text(digits), width, left);
    }
    case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
      s = c_format(spec + sp.type, v.as_float());
      break;
    default: fail("ValueError", std::string("unsupported format character '") + sp.type + "'");
  }
  in.charge_string(s.size());
  out.append(s);
}

}  // namespace

text percent_format(interpreter& in, const text& fmt, const value& args) {
  const std::string_view f = fmt.view();
  std::vector<value> positional;
  const bool tuple = args.is_list() && args.as_list().tuple;
  if (tuple) {
    positional = args.as_list().items;
  } else {
    positional.push_back(args);
  }
  size_t next_arg = 0;
  const auto take_int = [&]() {
    if (next_arg >= positional.size()) type_error("not enough arguments for format string");
    const value& v = positional[next_arg++];
    if (!v.is_int() && !v.is_bool()) type_error("* wants int");
    return v.as_int();
  };
  text out;
  size_t i = 0;
  while (i < f.size()) {
    const size_t pct = f.find('%', i);
    if (pct == std::string_view::npos) break;
    out.append(fmt, i, pct);
    size_t p = pct + 1;
    const auto at_end = [&] { if (p >= f.size()) fail("ValueError", "incomplete format"); };
    at_end();
    if (f[p] == '%') {
      out.append("%");
      i = p + 1;
      continue;
    }
    value keyed;
    bool has_key = false;
    if (f[p] == '(') {
      int depth = 1;
      size_t q = p + 1;
      for (; q < f.size() && depth > 0; ++q) depth += f[q] == '(' ? 1 : f[q] == ')' ? -1 : 0;
      if (depth) fail("ValueError", "incomplete format key");
      if (!args.is_dict()) type_error("format requires a mapping");
      const std::string key(f.substr(p + 1, q - p - 2));
      const value* v = args.as_dict().find(key);
      if (!v) fail("KeyError", "'" + key + "'");
      keyed = *v;
      has_key = true;
      p = q;
    }
    percent_spec sp;
    while (p < f.size() && std::strchr("#0- +", f[p]) && f[p]) sp.flags.push_back(f[p++]);
    at_end();
    if (f[p] == '*') {
      sp.width = take_int();
      ++p;
    } else {
      for (sp.width = f[p] >= '0' && f[p] <= '9' ? 0 : -1; p < f.size() && f[p] >= '0' && f[p] <= '9'; ++p) {
        sp.width = std::min<int64_t>(sp.width * 10 + (f[p] - '0'), max_field + 1);
      }
    }
    at_end();
    if (f[p] == '.') {
      ++p;
      at_end();
      if (f[p] == '*') {
        sp.precision = take_int();
        ++p;
      } else {
        for (sp.precision = 0; p < f.size() && f[p] >= '0' && f[p] <= '9'; ++p) {
          sp.precision = std::min<int64_t>(sp.precision * 10 + (f[p] - '0'), max_field + 1);
        }
      }
    }
    while (p < f.size() && (f[p] == 'h' || f[p] == 'l' || f[p] == 'L')) ++p;
    at_end();
    if (sp.width > max_field || sp.precision > max_field) fail("LimitError", "format field too wide");
    in.charge_string(static_cast<size_t>(std::max<int64_t>(sp.width, 0)));
    sp.type = f[p++];
    if (has_key) {
      percent_one(in, out, sp, keyed);
    } else {
      if (next_arg >= positional.size()) type_error("not enough arguments for format string");
      percent_one(in, out, sp, positional[next_arg++]);
    }
    i = p;
  }
  out.append(fmt, i, f.size());
  if (!args.is_dict() && next_arg < positional.size()) {
    type_error("not all arguments converted during string formatting");
  }
  in.charge_string(out.size());
  return out;
}

}  // namespace hearth::jinja

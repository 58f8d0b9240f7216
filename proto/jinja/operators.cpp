#include "proto/jinja/operators.h"

#include <cmath>
#include <limits>

#include "proto/jinja/error.h"
#include "proto/jinja/format.h"
#include "proto/jinja/interpreter.h"
#include "proto/jinja/string_ops.h"

namespace hearth::jinja {

namespace {

constexpr std::string_view symbols[] = {"+", "-", "*", "/", "//", "%", "**"};

[[noreturn]] void unsupported(binary_op op, const value& a, const value& b) {
  type_error("unsupported operand type(s) for " + std::string(symbols[static_cast<int>(op)]) + ": '" +
             std::string(type_name(a)) + "' and '" + std::string(type_name(b)) + "'");
}

[[noreturn]] void overflow() { fail("OverflowError", "integer result does not fit in 64 bits"); }

// a op b, or an OverflowError.
template <class Op>
int64_t checked(Op op, int64_t a, int64_t b) {
  int64_t r = 0;
  if (op(a, b, &r)) overflow();
  return r;
}
constexpr auto add_overflows = [](int64_t a, int64_t b, int64_t* r) { return __builtin_add_overflow(a, b, r); };
constexpr auto sub_overflows = [](int64_t a, int64_t b, int64_t* r) { return __builtin_sub_overflow(a, b, r); };
constexpr auto mul_overflows = [](int64_t a, int64_t b, int64_t* r) { return __builtin_mul_overflow(a, b, r); };

value int_pow(int64_t base, int64_t exp) {
  if (exp < 0) {
    if (base == 0) fail("ZeroDivisionError", "0.0 cannot be raised to a negative power");
    return value::floating(std::pow(static_cast<double>(base), static_cast<double>(exp)));
  }
  int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) result = checked(mul_overflows, result, base);
    exp >>= 1;
    if (exp > 0) base = checked(mul_overflows, base, base);
  }
  return value::integer(result);
}

value float_pow(double a, double b) {
  if (a == 0 && b < 0) fail("ZeroDivisionError", "0.0 cannot be raised to a negative power");
  if (a < 0 && std::isfinite(b) && b != std::floor(b)) fail("ValueError", "a negative number raised to a fractional power is complex");
  const double r = std::pow(a, b);
  if (std::isinf(r) && std::isfinite(a) && std::isfinite(b)) fail("OverflowError", "(34, 'Numerical result out of range')");
  return value::floating(r);
}

// Python's float divmod.
void float_divmod(double x, double y, double& floordiv, double& mod) {
  mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0) {
    if ((y < 0) != (mod < 0)) {
      mod += y;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, y);
  }
  if (div != 0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, x / y);
  }
}

value numeric(binary_op op, const value& a, const value& b) {
  if (a.is_float() || b.is_float() || op == binary_op::div) {
    const double x = a.as_float(), y = b.as_float();
    switch (op) {
      case binary_op::add: return value::floating(x + y);
      case binary_op::sub: return value::floating(x - y);
      case binary_op::mul: return value::floating(x * y);
      case binary_op::div:
        if (y == 0) fail("ZeroDivisionError", a.is_float() || b.is_float() ? "float division by zero" : "division by zero");
        return value::floating(x / y);
      case binary_op::floordiv:
      case binary_op::mod: {
        if (y == 0) fail("ZeroDivisionError", op == binary_op::mod ? "float modulo" : "float floor division by zero");
        double q, r;
        float_divmod(x, y, q, r);
        return value::floating(op == binary_op::mod ? r : q);
      }
      case binary_op::pow: return float_pow(x, y);
    }
  }
  const int64_t x = a.as_int(), y = b.as_int();
  switch (op) {
    case binary_op::add: return value::integer(checked(add_overflows, x, y));
    case binary_op::sub: return value::integer(checked(sub_overflows, x, y));
    case binary_op::mul: return value::integer(checked(mul_overflows, x, y));
    case binary_op::floordiv:
    case binary_op::mod: {
      if (y == 0) fail("ZeroDivisionError", "integer division or modulo by zero");
      if (y == -1) {
        if (op == binary_op::mod) return value::integer(0);
        if (x == std::numeric_limits<int64_t>::min()) overflow();
        return value::integer(-x);
      }
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        --q;
        m += y;
      }
      return value::integer(op == binary_op::mod ? m : q);
    }
    case binary_op::pow: return int_pow(x, y);
    default: return value();
  }
}

value repeat(interpreter& in, const value& seq, int64_t n) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const text& s = seq.as_text();
    if (!s.empty() && static_cast<uint64_t>(n) > in.limits().max_output / s.size()) in.charge_string(in.limits().max_output + 1);
    in.charge_string(s.size() * static_cast<size_t>(n));
    text out;
    out.reserve(s.size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out.append(s);
    return value::string(strings::keep_markup(std::move(out), s));
  }
  const list_data& l = seq.as_list();
  if (!l.items.empty() && static_cast<uint64_t>(n) > in.limits().max_items / l.items.size()) in.charge_items(in.limits().max_items + 1);
  in.charge_items(l.items.size() * static_cast<size_t>(n));
  std::vector<value> items;
  items.reserve(l.items.size() * static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) items.insert(items.end(), l.items.begin(), l.items.end());
  return l.tuple ? value::tuple(std::move(items)) : value::list(std::move(items));
}

bool is_sequence(const value& v) { return v.is_string() || (v.is_list() && !v.as_list().generator); }

}  // namespace

value arithmetic(interpreter& in, binary_op op, const value& a, const value& b) {
  if (a.is_undefined()) interpreter::undefined_error(a);
  if (b.is_undefined()) interpreter::undefined_error(b);
  if (a.is_number() && b.is_number()) return numeric(op, a, b);
  switch (op) {
    case binary_op::add:
      if (a.is_string() && b.is_string()) {
        const text &x = a.as_text(), &y = b.as_text();
        in.charge_string(x.size() + y.size());
        if (x.markup() || y.markup()) {  // Markup + str escapes the str
          text out = x.markup() ? x : strings::html_escape(x);
          out.append(y.markup() ? y : strings::html_escape(y));
          in.charge_string(out.size());
          return value::string(std::move(out));
        }
        text out = x;
        out.append(y);
        return value::string(std::move(out));
      }
      if (a.is_list() && b.is_list() && is_sequence(a) && is_sequence(b) && a.as_list().tuple == b.as_list().tuple) {
        const list_data &x = a.as_list(), &y = b.as_list();
        in.charge_items(x.items.size() + y.items.size());
        std::vector<value> items = x.items;
        items.insert(items.end(), y.items.begin(), y.items.end());
        return x.tuple ? value::tuple(std::move(items)) : value::list(std::move(items));
      }
      if (a.is_string() || (a.is_list() && is_sequence(a))) {
        type_error("can only concatenate " + std::string(type_name(a)) + " (not \"" + std::string(type_name(b)) + "\") to " +
                   std::string(type_name(a)));
      }
      break;
    case binary_op::mul:
      if (is_sequence(a) && (b.is_int() || b.is_bool())) return repeat(in, a, b.as_int());
      if (is_sequence(b) && (a.is_int() || a.is_bool())) return repeat(in, b, a.as_int());
      if (is_sequence(a) || is_sequence(b)) {
        type_error("can't multiply sequence by non-int of type '" + std::string(type_name(is_sequence(a) ? b : a)) + "'");
      }
      break;
    case binary_op::mod:
      if (a.is_string()) return value::string(percent_format(in, a.as_text(), b));
      break;
    default: break;
  }
  unsupported(op, a, b);
}

value negate(const value& v) {
  if (v.is_undefined()) interpreter::undefined_error(v);
  if (v.is_float()) return value::floating(-v.as_float());
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == std::numeric_limits<int64_t>::min()) overflow();
    return value::integer(-v.as_int());
  }
  type_error("bad operand type for unary -: '" + std::string(type_name(v)) + "'");
}

value unary_plus(const value& v) {
  if (v.is_undefined()) interpreter::undefined_error(v);
  if (v.is_float()) return v;
  if (v.is_int() || v.is_bool()) return value::integer(v.as_int());
  type_error("bad operand type for unary +: '" + std::string(type_name(v)) + "'");
}

}  // namespace hearth::jinja

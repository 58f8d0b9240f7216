#include "proto/jinja/methods.h"

#include <algorithm>
#include <optional>

#include "proto/jinja/compare.h"
#include "proto/jinja/error.h"
#include "proto/jinja/format.h"
#include "proto/jinja/interpreter.h"
#include "proto/jinja/string_ops.h"
#include "proto/jinja/unicode.h"

namespace hearth::jinja {

namespace {

const text& str_arg(const value& v, std::string_view method) {
  if (v.is_undefined()) interpreter::undefined_error(v);
  if (!v.is_string()) {
    type_error(std::string(method) + "() argument must be str, not " + std::string(type_name(v)));
  }
  return v.as_text();
}

std::optional<std::string_view> optional_str(const value* v, std::string_view method) {
  if (!v || v->is_none()) return std::nullopt;
  return str_arg(*v, method).view();
}

int64_t int_arg(const value* v, int64_t fallback, std::string_view method) {
  if (!v || v->is_none()) return fallback;
  if (v->is_undefined()) interpreter::undefined_error(*v);
  if (!v->is_int() && !v->is_bool()) {
    type_error("'" + std::string(type_name(*v)) + "' object cannot be interpreted as an integer (in " + std::string(method) + ")");
  }
  return v->as_int();
}

// Markup's methods return Markup, and escape the plain strings they are given.
text escaped_for(const text& self, const text& arg) { return self.markup() && !arg.markup() ? strings::html_escape(arg) : arg; }

value strings_list(std::vector<text> parts, const text& like) {
  std::vector<value> items;
  items.reserve(parts.size());
  for (text& t : parts) items.push_back(value::string(strings::keep_markup(std::move(t), like)));
  return value::list(std::move(items));
}

// ---- str ----

value m_strip(const value& s, const call_args& a, std::string_view name, bool left, bool right) {
  arg_binder b(name, a, {"chars"});
  return value::string(strings::keep_markup(strings::strip(s.as_text(), optional_str(b.get(0), name), left, right), s.as_text()));
}
value s_strip(interpreter&, const value& s, const call_args& a) { return m_strip(s, a, "strip", true, true); }
value s_lstrip(interpreter&, const value& s, const call_args& a) { return m_strip(s, a, "lstrip", true, false); }
value s_rstrip(interpreter&, const value& s, const call_args& a) { return m_strip(s, a, "rstrip", false, true); }

value m_split(interpreter& in, const value& s, const call_args& a, std::string_view name, bool right) {
  arg_binder b(name, a, {"sep", "maxsplit"});
  const std::optional<std::string_view> sep = optional_str(b.get(0), name);
  if (sep && sep->empty()) fail("ValueError", "empty separator");
  std::vector<text> parts = strings::split(s.as_text(), sep, int_arg(b.get(1), -1, name), right);
  in.charge(parts.size());
  return strings_list(std::move(parts), s.as_text());
}
value s_split(interpreter& in, const value& s, const call_args& a) { return m_split(in, s, a, "split", false); }
value s_rsplit(interpreter& in, const value& s, const call_args& a) { return m_split(in, s, a, "rsplit", true); }

value s_splitlines(interpreter& in, const value& s, const call_args& a) {
  arg_binder b("splitlines", a, {"keepends"});
  std::vector<text> parts = strings::splitlines(s.as_text(), b.get(0) && truthy(*b.get(0)));
  in.charge(parts.size());
  return strings_list(std::move(parts), s.as_text());
}

// startswith / endswith: a prefix or a tuple of them, optionally within s[start:end].
value m_affix(const value& s, const call_args& a, std::string_view name, bool prefix) {
  arg_binder b(name, a, {"prefix", "start", "end"});
  const value& what = b.require(0);
  text t = s.as_text();
  if (b.get(1) || b.get(2)) {
    const value* start = b.get(1);
    const value* end = b.get(2);
    t = strings::slice(t, start && !start->is_none() ? std::optional<int64_t>(int_arg(start, 0, name)) : std::nullopt,
                       end && !end->is_none() ? std::optional<int64_t>(int_arg(end, 0, name)) : std::nullopt, 1);
  }
  const auto test = [&](const value& p) {
    const std::string_view x = str_arg(p, name).view();
    return prefix ? t.view().starts_with(x) : t.view().ends_with(x);
  };
  if (what.is_list() && what.as_list().tuple) {
    return value::boolean(std::any_of(what.as_list().items.begin(), what.as_list().items.end(), test));
  }
  return value::boolean(test(what));
}
value s_startswith(interpreter&, const value& s, const call_args& a) { return m_affix(s, a, "startswith", true); }
value s_endswith(interpreter&, const value& s, const call_args& a) { return m_affix(s, a, "endswith", false); }

value s_replace(interpreter& in, const value& s, const call_args& a) {
  arg_binder b("replace", a, {"old", "new", "count"});
  const text& old = str_arg(b.require(0), "replace");
  const text with = escaped_for(s.as_text(), str_arg(b.require(1), "replace"));
  text out = strings::replace(s.as_text(), old.view(), with, int_arg(b.get(2), -1, "replace"));
  in.charge_string(out.size());
  return value::string(strings::keep_markup(std::move(out), s.as_text()));
}

// upper(), lower(), title(), capitalize(): the mapped text, Markup if s was.
template <text (*map)(const text&)>
value s_case(interpreter&, const value& s, const call_args& a) {
  arg_binder("str method", a, {});
  return value::string(strings::keep_markup(map(s.as_text()), s.as_text()));
}

value m_find(const value& s, const call_args& a, std::string_view name, bool right, bool raise) {
  arg_binder b(name, a, {"sub"});
  const int64_t at = strings::find(s.as_text(), str_arg(b.require(0), name).view(), right);
  if (at < 0 && raise) fail("ValueError", "substring not found");
  return value::integer(at);
}
value s_find(interpreter&, const value& s, const call_args& a) { return m_find(s, a, "find", false, false); }
value s_rfind(interpreter&, const value& s, const call_args& a) { return m_find(s, a, "rfind", true, false); }
value s_index(interpreter&, const value& s, const call_args& a) { return m_find(s, a, "index", false, true); }
value s_rindex(interpreter&, const value& s, const call_args& a) { return m_find(s, a, "rindex", true, true); }

value s_count(interpreter&, const value& s, const call_args& a) {
  arg_binder b("count", a, {"sub"});
  return value::integer(strings::count(s.as_text(), str_arg(b.require(0), "count").view()));
}

value s_join(interpreter& in, const value& s, const call_args& a) {
  arg_binder b("join", a, {"iterable"});
  const std::shared_ptr<const list_data> items = in.iterate(b.require(0));
  text out;
  for (size_t i = 0; i < items->items.size(); ++i) {
    const value& v = items->items[i];
    if (!v.is_string()) {
      type_error("sequence item " + std::to_string(i) + ": expected str instance, " + std::string(type_name(v)) + " found");
    }
    if (i) out.append(s.as_text());
    out.append(escaped_for(s.as_text(), v.as_text()));
    in.charge_string(out.size());
  }
  return value::string(strings::keep_markup(std::move(out), s.as_text()));
}

value m_pad(interpreter& in, const value& s, const call_args& a, std::string_view name, int align) {
  arg_binder b(name, a, {"width", "fillchar"});
  const int64_t width = int_arg(&b.require(0), 0, name);
  std::string_view fill = " ";
  if (b.get(1)) {
    fill = str_arg(*b.get(1), name).view();
    if (unicode::count_chars(fill) != 1) type_error("The fill character must be exactly one character long");
  }
  in.charge_string(static_cast<size_t>(std::max<int64_t>(0, std::min<int64_t>(width, INT32_MAX))) * fill.size());
  return value::string(strings::keep_markup(strings::pad(s.as_text(), width, fill, align), s.as_text()));
}
value s_center(interpreter& in, const value& s, const call_args& a) { return m_pad(in, s, a, "center", 0); }
value s_ljust(interpreter& in, const value& s, const call_args& a) { return m_pad(in, s, a, "ljust", -1); }
value s_rjust(interpreter& in, const value& s, const call_args& a) { return m_pad(in, s, a, "rjust", 1); }

value s_zfill(interpreter& in, const value& s, const call_args& a) {
  arg_binder b("zfill", a, {"width"});
  const int64_t width = int_arg(&b.require(0), 0, "zfill");
  const text& t = s.as_text();
  const int64_t len = static_cast<int64_t>(unicode::count_chars(t.view()));
  if (width <= len) return s;
  in.charge_string(static_cast<size_t>(std::min<int64_t>(width, INT32_MAX)));
  const bool sign = !t.empty() && (t.view()[0] == '+' || t.view()[0] == '-');
  text out;
  if (sign) out.append(t, 0, 1);
  out.append(std::string(static_cast<size_t>(width - len), '0'));
  out.append(t, sign ? 1 : 0, t.size());
  return value::string(strings::keep_markup(std::move(out), t));
}

template <bool (*pred)(char32_t)>
value s_is(interpreter&, const value& s, const call_args&) {
  const std::string_view v = s.str();
  if (v.empty()) return value::boolean(false);
  for (size_t i = 0; i < v.size();) {
    const unicode::decoded d = unicode::decode(v, i);
    if (!d.valid || !pred(d.cp)) return value::boolean(false);
    i += d.length;
  }
  return value::boolean(true);
}

template <bool upper>
value s_is_case(interpreter&, const value& s, const call_args& a) {
  arg_binder(upper ? "isupper" : "islower", a, {});
  return value::boolean(strings::all_cased_as(s.str(), upper));
}

value s_format(interpreter& in, const value& s, const call_args& a) {
  if (!s.as_text().markup()) return value::string(brace_format(in, s.as_text(), a));
  call_args escaped = a;  // Markup.format escapes what it substitutes
  const auto escape = [&](value& v) {
    if (v.is_string()) v = value::string(escaped_for(s.as_text(), v.as_text()));
  };
  for (value& v : escaped.positional) escape(v);
  for (auto& [k, v] : escaped.keyword) escape(v);
  return value::string(strings::keep_markup(brace_format(in, s.as_text(), escaped), s.as_text()));
}

value m_partition(const value& s, const call_args& a, bool right) {
  arg_binder b(right ? "rpartition" : "partition", a, {"sep"});
  const std::string_view sep = str_arg(b.require(0), "partition").view();
  if (sep.empty()) fail("ValueError", "empty separator");
  const text& t = s.as_text();
  const size_t at = right ? t.view().rfind(sep) : t.view().find(sep);
  text head, mid, tail;
  if (at == std::string_view::npos) {
    (right ? tail : head) = t;
  } else {
    head.append(t, 0, at);
    mid.append(t, at, at + sep.size());
    tail.append(t, at + sep.size(), t.size());
  }
  return value::tuple({value::string(strings::keep_markup(std::move(head), t)), value::string(strings::keep_markup(std::move(mid), t)),
                       value::string(strings::keep_markup(std::move(tail), t))});
}
value s_partition(interpreter&, const value& s, const call_args& a) { return m_partition(s, a, false); }
value s_rpartition(interpreter&, const value& s, const call_args& a) { return m_partition(s, a, true); }

// ---- dict ----

value d_get(interpreter&, const value& d, const call_args& a) {
  arg_binder b("get", a, {"key", "default"});
  const value* v = d.as_dict().find(b.require(0));
  return v ? *v : b.get(1) ? *b.get(1) : value::none();
}

value d_items(interpreter& in, const value& d, const call_args& a) {
  arg_binder("items", a, {});
  std::vector<value> pairs;
  pairs.reserve(d.as_dict().items.size());
  for (const auto& [k, v] : d.as_dict().items) pairs.push_back(value::tuple({k, v}));
  in.charge(pairs.size());
  return value::list(std::move(pairs));
}

value d_keys(interpreter& in, const value& d, const call_args& a) {
  arg_binder("keys", a, {});
  return value::list(in.iterate(d)->items);
}

value d_values(interpreter& in, const value& d, const call_args& a) {
  arg_binder("values", a, {});
  std::vector<value> values;
  for (const auto& [k, v] : d.as_dict().items) values.push_back(v);
  in.charge(values.size());
  return value::list(std::move(values));
}

value copy_self(interpreter&, const value& self, const call_args& a) {
  arg_binder("copy", a, {});
  return self;  // immutable: a copy is the same value
}

// ---- list ----

value l_count(interpreter&, const value& l, const call_args& a) {
  arg_binder b("count", a, {"value"});
  const value& x = b.require(0);
  return value::integer(std::count_if(l.as_list().items.begin(), l.as_list().items.end(), [&](const value& v) { return equals(v, x); }));
}

value l_index(interpreter&, const value& l, const call_args& a) {
  arg_binder b("index", a, {"value"});
  const auto& items = l.as_list().items;
  for (size_t i = 0; i < items.size(); ++i) {
    if (equals(items[i], b.require(0))) return value::integer(static_cast<int64_t>(i));
  }
  fail("ValueError", "value is not in list");
}

struct method_entry {
  std::string_view name;
  method_fn fn;  // null: exists but refused by the sandbox
};

constexpr method_entry str_methods[] = {
    {"capitalize", s_case<strings::capitalize>}, {"center", s_center},     {"count", s_count},
    {"endswith", s_endswith},     {"find", s_find},         {"format", s_format},
    {"index", s_index},           {"isalnum", s_is<unicode::is_alnum>}, {"isalpha", s_is<unicode::is_alpha>},
    {"isdigit", s_is<unicode::is_digit>}, {"isspace", s_is<unicode::is_space>},
    {"islower", s_is_case<false>}, {"isupper", s_is_case<true>}, {"join", s_join},
    {"ljust", s_ljust},           {"lower", s_case<strings::lower>},       {"lstrip", s_lstrip},
    {"partition", s_partition},   {"replace", s_replace},   {"rfind", s_rfind},
    {"rindex", s_rindex},         {"rjust", s_rjust},       {"rpartition", s_rpartition},
    {"rsplit", s_rsplit},         {"rstrip", s_rstrip},     {"split", s_split},
    {"splitlines", s_splitlines}, {"startswith", s_startswith}, {"strip", s_strip},
    {"title", s_case<strings::title>},           {"upper", s_case<strings::upper>},       {"zfill", s_zfill},
};

constexpr method_entry dict_methods[] = {
    {"get", d_get},         {"items", d_items},    {"keys", d_keys},         {"values", d_values},
    {"copy", copy_self},    {"clear", nullptr},    {"pop", nullptr},         {"popitem", nullptr},
    {"setdefault", nullptr}, {"update", nullptr},
};

constexpr method_entry list_methods[] = {
    {"count", l_count},    {"index", l_index},   {"copy", copy_self},   {"append", nullptr},
    {"clear", nullptr},    {"extend", nullptr},  {"insert", nullptr},   {"pop", nullptr},
    {"remove", nullptr},   {"reverse", nullptr}, {"sort", nullptr},
};

template <size_t N>
method_fn lookup(const method_entry (&table)[N], std::string_view name, bool& unsafe) {
  for (const method_entry& e : table) {
    if (e.name != name) continue;
    unsafe = e.fn == nullptr;
    return e.fn;
  }
  return nullptr;
}

}  // namespace

method_fn find_method(const value& self, std::string_view name, bool& unsafe) {
  unsafe = false;
  switch (self.type()) {
    case value::kind::string: return lookup(str_methods, name, unsafe);
    case value::kind::dict: return lookup(dict_methods, name, unsafe);
    case value::kind::list:
      if (self.as_list().generator) return nullptr;
      if (self.as_list().tuple) {
        if (name == "count") return l_count;
        if (name == "index") return l_index;
        return nullptr;
      }
      return lookup(list_methods, name, unsafe);
    default: return nullptr;
  }
}

}  // namespace hearth::jinja

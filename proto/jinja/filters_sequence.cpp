// Filters over sequences and mappings: length, first, last, join, list, items, dictsort, sort,
// unique, reverse, map, select/reject(attr), min, max, sum, batch, slice. As in Jinja2, map,
// select, reject, selectattr, rejectattr, items, unique, batch, slice and (for non-strings)
// reverse return one-shot generators.
#include <algorithm>

#include "proto/jinja/compare.h"
#include "proto/jinja/error.h"
#include "proto/jinja/filters.h"
#include "proto/jinja/interpreter.h"
#include "proto/jinja/operators.h"
#include "proto/jinja/string_ops.h"
#include "proto/jinja/unicode.h"
#include "proto/jinja/value_text.h"

namespace hearth::jinja {

namespace {

bool flag(const value* v) { return v && truthy(*v); }

// Jinja2's make_attrgetter: "a.b.0" looks up a, then b, then item 0 (getitem, which falls back to
// attributes); an undefined result becomes `fallback` when one is given.
value get_path(interpreter& in, const value& item, const value& attribute, const value* fallback) {
  value v = item;
  if (attribute.is_int()) {
    v = in.get_item(v, attribute);
  } else {
    if (!attribute.is_string()) type_error("attribute must be a string or an integer");
    for (const text& part : strings::split(attribute.as_text(), std::string_view("."), -1, false)) {
      const std::string& p = part.str();
      const bool digits = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
      v = in.get_item(v, digits && p.size() < 18 ? value::integer(std::stoll(p)) : value::string(p));
    }
  }
  if (fallback && v.is_undefined()) return *fallback;
  return v;
}

// Sort keys ignore case unless asked: strings compare lower-cased.
value sort_key(const value& v, bool case_sensitive) {
  if (case_sensitive || !v.is_string()) return v;
  return value::string(strings::lower(v.as_text()));
}

std::vector<value> items_of(interpreter& in, const value& v) {
  std::vector<value> items = in.iterate(v)->items;
  in.charge(items.size());
  return items;
}

value f_length(interpreter&, const value& v, const call_args& a) {
  arg_binder("length", a, {});
  switch (v.type()) {
    case value::kind::undefined: return value::integer(0);
    case value::kind::string: return value::integer(static_cast<int64_t>(unicode::count_chars(v.str())));
    case value::kind::dict: return value::integer(static_cast<int64_t>(v.as_dict().items.size()));
    case value::kind::list:
      if (!v.as_list().generator) return value::integer(static_cast<int64_t>(v.as_list().items.size()));
      break;
    default: break;
  }
  type_error("object of type '" + std::string(type_name(v)) + "' has no len()");
}

value f_first(interpreter& in, const value& v, const call_args& a) {
  arg_binder("first", a, {});
  const std::shared_ptr<const list_data> items = in.iterate(v);
  if (items->items.empty()) return value::undefined("No first item, sequence was empty.");
  return items->items.front();
}

value f_last(interpreter& in, const value& v, const call_args& a) {
  arg_binder("last", a, {});
  if (v.is_list() && v.as_list().generator) type_error("'generator' object is not reversible");
  const std::shared_ptr<const list_data> items = in.iterate(v);
  if (items->items.empty()) return value::undefined("No last item, sequence was empty.");
  return items->items.back();
}

value f_join(interpreter& in, const value& v, const call_args& a) {
  arg_binder b("join", a, {"d", "attribute"});
  const text sep = b.get(0) ? to_str(*b.get(0)) : text();
  text out;
  bool first = true;
  for (const value& item : items_of(in, v)) {
    if (!first) out.append(sep);
    first = false;
    append_str(out, b.get(1) ? get_path(in, item, *b.get(1), nullptr) : item);
    in.charge_string(out.size());
  }
  return value::string(std::move(out));
}

value f_list(interpreter& in, const value& v, const call_args& a) {
  arg_binder("list", a, {});
  return value::list(items_of(in, v));
}

value f_items(interpreter& in, const value& v, const call_args& a) {
  arg_binder("items", a, {});
  if (v.is_undefined()) return value::generator({});
  if (!v.is_dict()) type_error("Can only get item pairs from a mapping.");
  std::vector<value> pairs;
  for (const auto& [k, x] : v.as_dict().items) pairs.push_back(value::tuple({k, x}));
  in.charge(pairs.size());
  return value::generator(std::move(pairs));
}

value f_dictsort(interpreter& in, const value& v, const call_args& a) {
  arg_binder b("dictsort", a, {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) type_error("dictsort() needs a mapping, not " + std::string(type_name(v)));
  const bool case_sensitive = flag(b.get(0));
  const std::string by = b.get(1) && b.get(1)->is_string() ? b.get(1)->str() : "key";
  if (by != "key" && by != "value") fail("FilterArgumentError", "You can only sort by either \"key\" or \"value\"");
  const size_t pos = by == "key" ? 0 : 1;
  std::vector<std::pair<value, value>> keyed;
  for (const auto& [k, x] : v.as_dict().items) {
    const value pair = value::tuple({k, x});
    keyed.emplace_back(sort_key(pos == 0 ? k : x, case_sensitive), pair);
  }
  in.charge(keyed.size() * 4);
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& p, const auto& q) { return compare(p.first, q.first, "<") < 0; });
  if (flag(b.get(2))) std::reverse(keyed.begin(), keyed.end());
  std::vector<value> out;
  for (auto& [k, pair] : keyed) out.push_back(std::move(pair));
  return value::list(std::move(out));
}

value f_sort(interpreter& in, const value& v, const call_args& a) {
  arg_binder b("sort", a, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = flag(b.get(0)), case_sensitive = flag(b.get(1));
  std::vector<std::pair<value, value>> keyed;
  for (const value& item : items_of(in, v)) {
    keyed.emplace_back(sort_key(b.get(2) ? get_path(in, item, *b.get(2), nullptr) : item, case_sensitive), item);
  }
  in.charge(keyed.size() * 4);
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& p, const auto& q) {
    return reverse ? compare(q.first, p.first, "<") < 0 : compare(p.first, q.first, "<") < 0;
  });
  std::vector<value> out;
  for (auto& [k, item] : keyed) out.push_back(std::move(item));
  return value::list(std::move(out));
}

value f_unique(interpreter& in, const value& v, const call_args& a) {
  arg_binder b("unique", a, {"case_sensitive", "attribute"});
  std::vector<value> seen, out;
  for (const value& item : items_of(in, v)) {
    const value key = sort_key(b.get(1) ? get_path(in, item, *b.get(1), nullptr) : item, flag(b.get(0)));
    if (std::any_of(seen.begin(), seen.end(), [&](const value& s) { return equals(s, key); })) continue;
    in.charge(seen.size());
    seen.push_back(key);
    out.push_back(item);
  }
  return value::generator(std::move(out));
}

value f_reverse(interpreter& in, const value& v, const call_args& a) {
  arg_binder("reverse", a, {});
  if (v.is_string()) return value::string(strings::slice(v.as_text(), std::nullopt, std::nullopt, -1));
  std::vector<value> items = items_of(in, v);
  std::reverse(items.begin(), items.end());
  return value::generator(std::move(items));
}

// map(attribute=..., default=...) or map("filter", args...).
value f_map(interpreter& in, const value& v, const call_args& a) {
  std::vector<value> out;
  if (!truthy(v)) return value::generator({});  // Jinja2 maps nothing over a false value, even None
  if (const value* attribute = a.keyword_arg("attribute")) {
    const value* fallback = a.keyword_arg("default");
    for (const auto& [k, x] : a.keyword) {
      if (k != "attribute" && k != "default") type_error("Unexpected keyword argument '" + k + "'");
    }
    for (const value& item : items_of(in, v)) out.push_back(get_path(in, item, *attribute, fallback));
    return value::generator(std::move(out));
  }
  if (a.positional.empty()) fail("FilterArgumentError", "map requires a filter argument");
  if (!a.positional[0].is_string()) type_error("map() filter name must be a string");
  call_args rest{{a.positional.begin() + 1, a.positional.end()}, a.keyword};
  for (const value& item : items_of(in, v)) out.push_back(in.call_filter(a.positional[0].str(), item, rest));
  return value::generator(std::move(out));
}

// select / reject (attribute == nullptr) and selectattr / rejectattr.
value filter_items(interpreter& in, const value& v, const call_args& a, bool keep, bool by_attribute) {
  size_t next = 0;
  const value* attribute = nullptr;
  if (by_attribute) {
    if (a.positional.empty()) type_error("selectattr() missing the attribute");
    attribute = &a.positional[next++];
  }
  const value* test = next < a.positional.size() ? &a.positional[next++] : nullptr;
  if (test && !test->is_string()) type_error("the test name must be a string");
  call_args rest{{a.positional.begin() + static_cast<std::ptrdiff_t>(next), a.positional.end()}, a.keyword};
  std::vector<value> out;
  if (!truthy(v)) return value::generator({});  // as Jinja2: nothing from a false value, even None
  for (const value& item : items_of(in, v)) {
    const value subject = attribute ? get_path(in, item, *attribute, nullptr) : item;
    const bool passes = test ? in.call_test(test->str(), subject, rest) : truthy(subject);
    if (passes == keep) out.push_back(item);
  }
  return value::generator(std::move(out));
}

value f_select(interpreter& in, const value& v, const call_args& a) { return filter_items(in, v, a, true, false); }
value f_reject(interpreter& in, const value& v, const call_args& a) { return filter_items(in, v, a, false, false); }
value f_selectattr(interpreter& in, const value& v, const call_args& a) { return filter_items(in, v, a, true, true); }
value f_rejectattr(interpreter& in, const value& v, const call_args& a) { return filter_items(in, v, a, false, true); }

value extreme(interpreter& in, const value& v, const call_args& a, bool largest) {
  arg_binder b(largest ? "max" : "min", a, {"case_sensitive", "attribute"});
  const value* best = nullptr;
  value best_key;
  const std::vector<value> items = items_of(in, v);
  for (const value& item : items) {
    const value key = sort_key(b.get(1) ? get_path(in, item, *b.get(1), nullptr) : item, flag(b.get(0)));
    if (!best || (largest ? compare(key, best_key, ">") > 0 : compare(key, best_key, "<") < 0)) {
      best = &item;
      best_key = key;
    }
  }
  if (!best) return value::undefined("No aggregated item, sequence was empty.");
  return *best;
}

value f_max(interpreter& in, const value& v, const call_args& a) { return extreme(in, v, a, true); }
value f_min(interpreter& in, const value& v, const call_args& a) { return extreme(in, v, a, false); }

value f_sum(interpreter& in, const value& v, const call_args& a) {
  arg_binder b("sum", a, {"attribute", "start"});
  value total = b.get_or(1, value::integer(0));
  for (const value& item : items_of(in, v)) {
    total = arithmetic(in, binary_op::add, total, b.get(0) ? get_path(in, item, *b.get(0), nullptr) : item);
  }
  return total;
}

value f_batch(interpreter& in, const value& v, const call_args& a) {
  arg_binder b("batch", a, {"linecount", "fill_with"});
  const value& n = b.require(0);
  if (!n.is_int() || n.as_int() <= 0) fail("ValueError", "batch() linecount must be a positive integer");
  const auto size = static_cast<size_t>(n.as_int());
  std::vector<value> out, row;
  for (const value& item : items_of(in, v)) {
    row.push_back(item);
    if (row.size() == size) out.push_back(value::list(std::exchange(row, {})));
  }
  if (!row.empty()) {
    if (b.get(1)) {
      in.charge(size);
      while (row.size() < size) row.push_back(*b.get(1));
    }
    out.push_back(value::list(std::move(row)));
  }
  return value::generator(std::move(out));
}

value f_slice(interpreter& in, const value& v, const call_args& a) {
  arg_binder b("slice", a, {"slices", "fill_with"});
  const value& n = b.require(0);
  if (!n.is_int() || n.as_int() <= 0) fail("ValueError", "slice() slices must be a positive integer");
  const std::vector<value> items = items_of(in, v);
  const auto slices = static_cast<size_t>(n.as_int());
  const size_t per = items.size() / slices, extra = items.size() % slices;
  std::vector<value> out;
  size_t offset = 0;
  in.charge(slices);
  for (size_t i = 0; i < slices; ++i) {
    const size_t start = offset + i * per;
    if (i < extra) ++offset;
    const size_t end = offset + (i + 1) * per;
    std::vector<value> part(items.begin() + static_cast<std::ptrdiff_t>(start), items.begin() + static_cast<std::ptrdiff_t>(end));
    if (b.get(1) && i >= extra) part.push_back(*b.get(1));
    out.push_back(value::list(std::move(part)));
  }
  return value::generator(std::move(out));
}

constexpr filter_entry sequence_filters[] = {
    {"length", f_length},     {"count", f_length},     {"first", f_first},   {"last", f_last},
    {"join", f_join},         {"list", f_list},        {"items", f_items},   {"dictsort", f_dictsort},
    {"sort", f_sort},         {"unique", f_unique},    {"reverse", f_reverse}, {"map", f_map},
    {"select", f_select},     {"reject", f_reject},    {"selectattr", f_selectattr},
    {"rejectattr", f_rejectattr}, {"max", f_max},      {"min", f_min},       {"sum", f_sum},
    {"batch", f_batch},       {"slice", f_slice},
};

}  // namespace

filter_fn find_sequence_filter(std::string_view name) {
  for (const filter_entry& f : sequence_filters) {
    if (f.name == name) return f.fn;
  }
  return nullptr;
}

}  // namespace hearth::jinja

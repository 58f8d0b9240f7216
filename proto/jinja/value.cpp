#include "proto/jinja/value.h"

#include <algorithm>

#include "proto/jinja/compare.h"
#include "proto/jinja/error.h"
#include "proto/jinja/object.h"

namespace hearth::jinja {

namespace {

[[noreturn]] void too_deep() {
  fail("LimitError", "a value nests deeper than " + std::to_string(max_value_depth) + " levels");
}

}  // namespace

const value* dict_data::find(const value& key) const {
  if (key.is_string()) return find(key.str());
  for (const auto& [k, v] : items) {
    if (!k.is_string() && equals(k, key)) return &v;
  }
  return nullptr;
}

const value* dict_data::find(std::string_view key) const {
  if (!index.empty()) {
    auto it = index.find(key);
    return it == index.end() ? nullptr : &items[it->second].second;
  }
  for (const auto& [k, v] : items) {
    if (k.is_string() && k.str() == key) return &v;
  }
  return nullptr;
}

value value::undefined(std::string hint, bool unsafe) {
  value r;
  r.v_ = std::make_shared<const undefined_data>(undefined_data{std::move(hint), unsafe});
  return r;
}

value value::none() {
  value r;
  r.v_ = std::monostate{};
  return r;
}

value value::boolean(bool b) {
  value r;
  r.v_ = b;
  return r;
}

value value::integer(int64_t i) {
  value r;
  r.v_ = i;
  return r;
}

value value::floating(double d) {
  value r;
  r.v_ = d;
  return r;
}

value value::string(text t) { return string(std::make_shared<const text>(std::move(t))); }

value value::string(std::string_view s, bool user) { return string(text(std::string(s), user)); }

value value::string(std::shared_ptr<const text> t) {
  value r;
  r.v_ = std::move(t);
  return r;
}

value value::make_list(std::vector<value> items, bool tuple, bool generator) {
  uint32_t depth = 0;
  for (const value& v : items) depth = std::max(depth, v.depth());
  if (depth + 1 > max_value_depth) too_deep();
  auto d = std::make_shared<list_data>();
  d->items = std::move(items);
  d->tuple = tuple;
  d->generator = generator;
  d->depth = depth + 1;
  value r;
  r.v_ = std::shared_ptr<const list_data>(std::move(d));
  return r;
}

value value::list(std::vector<value> items) { return make_list(std::move(items), false, false); }
value value::tuple(std::vector<value> items) { return make_list(std::move(items), true, false); }
value value::generator(std::vector<value> items) { return make_list(std::move(items), false, true); }

value value::dict(std::vector<std::pair<value, value>> items, bool keys_unique) {
  auto d = std::make_shared<dict_data>();
  uint32_t depth = 0;
  for (const auto& [k, v] : items) depth = std::max({depth, k.depth(), v.depth()});
  if (depth + 1 > max_value_depth) too_deep();
  d->depth = depth + 1;
  if (keys_unique) {
    d->items = std::move(items);
  } else {
    d->items.reserve(items.size());
    for (auto& [k, v] : items) {
      value* existing = const_cast<value*>(d->find(k));
      if (existing) {
        *existing = std::move(v);
      } else {
        d->items.emplace_back(std::move(k), std::move(v));
      }
    }
  }
  constexpr size_t indexed_from = 16;
  if (d->items.size() >= indexed_from) {
    for (size_t i = 0; i < d->items.size(); ++i) {
      if (d->items[i].first.is_string()) d->index.emplace(d->items[i].first.str(), i);
    }
  }
  value r;
  r.v_ = std::shared_ptr<const dict_data>(std::move(d));
  return r;
}

value value::from_object(object* o) {
  value r;
  r.v_ = o;
  return r;
}

int64_t value::as_int() const {
  if (is_bool()) return as_bool() ? 1 : 0;
  return std::get<int64_t>(v_);
}

double value::as_float() const {
  if (is_float()) return std::get<double>(v_);
  return static_cast<double>(as_int());
}

std::string value::undefined_hint() const {
  const undef_ref& u = std::get<undef_ref>(v_);
  return u ? u->hint : "value is undefined";
}

bool value::undefined_unsafe() const {
  const undef_ref& u = std::get<undef_ref>(v_);
  return u && u->unsafe;
}

uint32_t value::depth() const {
  switch (type()) {
    case kind::list: return as_list().depth;
    case kind::dict: return as_dict().depth;
    default: return 0;
  }
}

std::string_view type_name(const value& v) {
  switch (v.type()) {
    case value::kind::undefined: return "Undefined";
    case value::kind::none: return "NoneType";
    case value::kind::boolean: return "bool";
    case value::kind::integer: return "int";
    case value::kind::floating: return "float";
    case value::kind::string: return "str";
    case value::kind::list: {
      const list_data& l = v.as_list();
      return l.generator ? "generator" : l.tuple ? "tuple" : "list";
    }
    case value::kind::dict: return "dict";
    case value::kind::object: return v.as_object()->type_name();
  }
  return "object";
}

std::string object_type_repr(const value& v) {
  if (v.is_none()) return "None";
  return std::string(type_name(v)) + " object";
}

}  // namespace hearth::jinja

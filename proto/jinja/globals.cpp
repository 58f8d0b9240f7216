#include "proto/jinja/globals.h"

#include "proto/jinja/error.h"
#include "proto/jinja/interpreter.h"
#include "proto/jinja/objects.h"
#include "proto/jinja/value_text.h"

namespace hearth::jinja {

namespace {

// Jinja2's sandbox refuses longer ranges.
constexpr int64_t max_range = 100000;

int64_t int_arg(const value& v) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_undefined()) interpreter::undefined_error(v);
  type_error("'" + std::string(type_name(v)) + "' object cannot be interpreted as an integer");
}

value fn_range(interpreter& in, call_args& args) {
  if (!args.keyword.empty()) type_error("range() takes no keyword arguments");
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3) type_error("range expected 1 to 3 arguments, got " + std::to_string(p.size()));
  const int64_t start = p.size() == 1 ? 0 : int_arg(p[0]);
  const int64_t stop = p.size() == 1 ? int_arg(p[0]) : int_arg(p[1]);
  const int64_t step = p.size() == 3 ? int_arg(p[2]) : 1;
  if (step == 0) fail("ValueError", "range() arg 3 must not be zero");
  const __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  const __int128 mag = step > 0 ? static_cast<__int128>(step) : -static_cast<__int128>(step);
  const __int128 count = span <= 0 ? 0 : (span + mag - 1) / mag;
  if (count > max_range) {
    fail("OverflowError", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  in.charge(static_cast<uint64_t>(count));
  std::vector<value> items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t k = 0; k < static_cast<int64_t>(count); ++k) items.push_back(value::integer(start + k * step));
  return value::list(std::move(items));
}

// dict(...) / namespace(...)'s arguments: an optional mapping or sequence of pairs, then keywords.
std::vector<std::pair<value, value>> mapping_args(interpreter& in, const call_args& args, std::string_view fn) {
  std::vector<std::pair<value, value>> items;
  if (args.positional.size() > 1) type_error(std::string(fn) + " expected at most 1 argument, got " + std::to_string(args.positional.size()));
  if (!args.positional.empty()) {
    const value& src = args.positional[0];
    if (src.is_dict()) {
      items = src.as_dict().items;
    } else {
      // Held here: a range-for keeps only `->items` alive, not the list iterate() returned.
      const std::shared_ptr<const list_data> pairs = in.iterate(src);
      for (const value& pair : pairs->items) {
        const std::shared_ptr<const list_data> kv = in.iterate(pair);
        if (kv->items.size() != 2) fail("ValueError", "dictionary update sequence element has length " + std::to_string(kv->items.size()) + "; 2 is required");
        items.emplace_back(kv->items[0], kv->items[1]);
      }
    }
  }
  for (const auto& [k, v] : args.keyword) items.emplace_back(value::string(k), v);
  in.charge(items.size());
  return items;
}

value fn_dict(interpreter& in, call_args& args) { return value::dict(mapping_args(in, args, "dict")); }

value fn_namespace(interpreter& in, call_args& args) {
  namespace_object* ns = in.make<namespace_object>();
  for (auto& [k, v] : mapping_args(in, args, "namespace")) {
    if (!k.is_string()) type_error("keywords must be strings");
    ns->assign(k.str(), std::move(v));
  }
  return value::from_object(ns);
}

value fn_raise_exception(interpreter&, call_args& args) {
  const value message = args.positional.empty() ? value::string("") : args.positional[0];
  fail("TemplateError", to_str(message).str());
}

value fn_strftime_now(interpreter& in, call_args& args) {
  arg_binder b("strftime_now", args, {"format"});
  const value& f = b.require(0);
  if (!f.is_string()) type_error("strftime_now() argument must be str, not " + std::string(type_name(f)));
  const std::string s = format_time(f.str(), in.now());
  in.charge_string(s.size());
  return value::string(s);
}

function_object range_object("range", fn_range);
function_object dict_object("dict", fn_dict);
function_object namespace_fn_object("namespace", fn_namespace);
function_object raise_object("raise_exception", fn_raise_exception);
function_object strftime_object("strftime_now", fn_strftime_now);

}  // namespace

value builtin_global(std::string_view name) {
  if (name == "range") return value::from_object(&range_object);
  if (name == "dict") return value::from_object(&dict_object);
  if (name == "namespace") return value::from_object(&namespace_fn_object);
  if (name == "raise_exception") return value::from_object(&raise_object);
  if (name == "strftime_now") return value::from_object(&strftime_object);
  return value();
}

}  // namespace hearth::jinja

#include "proto/jinja/json_io.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "proto/jinja/compare.h"
#include "proto/jinja/error.h"
#include "proto/jinja/unicode.h"
#include "proto/jinja/value_text.h"

namespace hearth::jinja {

namespace {

template <class json>
value from_json_at(const json& j, bool user, uint32_t depth) {
  if (depth > max_value_depth) {
    fail("LimitError", "a value nests deeper than " + std::to_string(max_value_depth) + " levels");
  }
  switch (j.type()) {
    case json::value_t::null: return value::none();
    case json::value_t::boolean: return value::boolean(j.template get<bool>());
    case json::value_t::number_integer: return value::integer(j.template get<int64_t>());
    case json::value_t::number_unsigned: {
      const uint64_t u = j.template get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return value::integer(static_cast<int64_t>(u));
      }
      return value::floating(static_cast<double>(u));
    }
    case json::value_t::number_float: return value::floating(j.template get<double>());
    case json::value_t::string: return value::string(j.template get_ref<const std::string&>(), user);
    case json::value_t::array: {
      std::vector<value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json_at(e, user, depth + 1));
      return value::list(std::move(items));
    }
    case json::value_t::object: {
      std::vector<std::pair<value, value>> items;
      items.reserve(j.size());
      for (const auto& [k, e] : j.items()) {
        items.emplace_back(value::string(k, user), from_json_at(e, user, depth + 1));
      }
      return value::dict(std::move(items), /*keys_unique=*/true);
    }
    default: return value::none();  // binary and discarded values do not come from parsed text
  }
}

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out.push_back('"');
  char buf[16];
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || (ensure_ascii && c == 0x7F)) {
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const unicode::decoded d = unicode::decode(s, i);
    if (!ensure_ascii) {
      out.append(s.substr(i, d.length));
    } else if (d.cp < 0x10000) {
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(d.cp));
      out += buf;
    } else {
      const char32_t v = d.cp - 0x10000;
      std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                    static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
      out += buf;
    }
    i += d.length;
  }
  out.push_back('"');
}

class json_writer {
 public:
  json_writer(std::string& out, const json_format& f) : out_(out), f_(f) {}

  void write(const value& v, int level) {
    switch (v.type()) {
      case value::kind::none: out_ += "null"; return;
      case value::kind::boolean: out_ += v.as_bool() ? "true" : "false"; return;
      case value::kind::integer: out_ += std::to_string(v.as_int()); return;
      case value::kind::floating: out_ += float_text(v.as_float()); return;
      case value::kind::string:
        user_ = user_ || v.as_text().has_user();
        append_json_string(out_, v.str(), f_.ensure_ascii);
        return;
      case value::kind::list:
        if (!v.as_list().generator) return write_list(v.as_list(), level);
        break;
      case value::kind::dict: return write_dict(v.as_dict(), level);
      default: break;
    }
    type_error("Object of type " + std::string(type_name(v)) + " is not JSON serializable");
  }

  bool saw_user() const { return user_; }

 private:
  static std::string float_text(double d) {
    if (d != d) return "NaN";
    if (d == std::numeric_limits<double>::infinity()) return "Infinity";
    if (d == -std::numeric_limits<double>::infinity()) return "-Infinity";
    return float_repr(d);
  }

  // Opens a container: returns the separator between its items.
  std::string open(char bracket, int& level) {
    out_.push_back(bracket);
    if (!f_.indent) return f_.item_separator;
    ++level;
    const std::string newline = "\n" + repeat_indent(level);
    out_ += newline;
    return f_.item_separator + newline;
  }

  void close(char bracket, int level) {
    if (f_.indent) out_ += "\n" + repeat_indent(level - 1);
    out_.push_back(bracket);
  }

  std::string repeat_indent(int level) const {
    std::string s;
    for (int i = 0; i < level; ++i) s += *f_.indent;
    return s;
  }

  void write_list(const list_data& l, int level) {
    if (l.items.empty()) {
      out_ += "[]";
      return;
    }
    const std::string sep = open('[', level);
    for (size_t i = 0; i < l.items.size(); ++i) {
      if (i) out_ += sep;
      write(l.items[i], level);
    }
    close(']', level);
  }

  void write_key(const value& k) {
    switch (k.type()) {
      case value::kind::string:
        user_ = user_ || k.as_text().has_user();
        return append_json_string(out_, k.str(), f_.ensure_ascii);
      case value::kind::none: out_ += "\"null\""; return;
      case value::kind::boolean: out_ += k.as_bool() ? "\"true\"" : "\"false\""; return;
      case value::kind::integer: out_ += "\"" + std::to_string(k.as_int()) + "\""; return;
      case value::kind::floating: out_ += "\"" + float_text(k.as_float()) + "\""; return;
      default:
        type_error("keys must be str, int, float, bool or None, not " + std::string(type_name(k)));
    }
  }

  void write_dict(const dict_data& d, int level) {
    if (d.items.empty()) {
      out_ += "{}";
      return;
    }
    std::vector<const std::pair<value, value>*> items;
    items.reserve(d.items.size());
    for (const auto& kv : d.items) items.push_back(&kv);
    if (f_.sort_keys) {
      std::stable_sort(items.begin(), items.end(), [](const auto* a, const auto* b) {
        return compare(a->first, b->first, "<") < 0;
      });
    }
    const std::string sep = open('{', level);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out_ += sep;
      write_key(items[i]->first);
      out_ += f_.key_separator;
      write(items[i]->second, level);
    }
    close('}', level);
  }

  std::string& out_;
  const json_format& f_;
  bool user_ = false;
};

}  // namespace

value from_json(const nlohmann::ordered_json& j, bool user_strings) { return from_json_at(j, user_strings, 0); }
value from_json(const nlohmann::json& j, bool user_strings) { return from_json_at(j, user_strings, 0); }

void append_json(text& out, const value& v, const json_format& format) {
  std::string s;
  json_writer w(s, format);
  w.write(v, 0);
  out.append(s, w.saw_user());
}

}  // namespace hearth::jinja

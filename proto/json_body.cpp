#include "proto/json_body.h"

#include <cfloat>
#include <cmath>

#include "tokenizer/utf8.h"

namespace hearth::proto {

namespace {

// Offset of the first byte that is not part of a valid UTF-8 character, if any.
std::optional<size_t> first_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const utf8_scan sc = utf8_scan_one(s.substr(i));
    if (sc.kind != utf8_scan::complete) return i;
    i += sc.length;
  }
  return std::nullopt;
}

// Deepest array/object nesting, counted outside strings. Stops counting past `limit`, so the
// scan is linear and the parser never sees a body deep enough to strain it.
bool nesting_within(std::string_view s, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the tag means nothing to
// a client.
std::string without_exception_tag(const char* what) {
  std::string_view m(what);
  if (m.starts_with("[json.exception.")) {
    const size_t close = m.find("] ");
    if (close != std::string_view::npos) m.remove_prefix(close + 2);
  }
  return std::string(m);
}

const char* type_word(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::null: return "null";
    default: return "a number";
  }
}

}  // namespace

result<nlohmann::json> parse_json_object(std::string_view body, std::string_view what) {
  const std::string w(what);
  if (auto at = first_invalid_utf8(body))
    return bad_request("", w + " is not valid UTF-8 (byte " + std::to_string(*at) + ")");
  if (!nesting_within(body, max_json_depth))
    return bad_request("", w + " nests JSON deeper than " + std::to_string(max_json_depth) +
                               " levels");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for 1e999
    return bad_request("", "malformed JSON: " + without_exception_tag(e.what()));
  }
  if (!j.is_object())
    return bad_request("", w + " must be a JSON object (got " + type_word(j) + ")");
  return j;
}

std::string describe(const nlohmann::json& value) {
  constexpr size_t max_len = 40;
  std::string s = serialize(value);
  if (s.size() <= max_len) return s;
  size_t cut = max_len;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
  return s + "...";
}

bool is_integral_number(const nlohmann::json& v) {
  if (v.is_number_integer()) return true;  // signed and unsigned
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return std::isfinite(d) && std::trunc(d) == d;
}

std::optional<int64_t> integral_value(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 is exact in a double; [-2^63, 2^63) is exactly the int64 range.
    if (!std::isfinite(d) || std::trunc(d) != d || d < -0x1p63 || d >= 0x1p63) return std::nullopt;
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

field_reader::field_reader(const nlohmann::json& object, std::string prefix)
    : object_(object), prefix_(std::move(prefix)) {}

const nlohmann::json* field_reader::find(std::string_view key) const {
  if (!object_.is_object()) return nullptr;
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<bool> field_reader::boolean(std::string_view key) {
  const nlohmann::json* v = find(key);
  if (failed() || !v) return std::nullopt;
  if (!check(v->is_boolean(), key,
             [&] { return param(key) + " must be a boolean (got " + describe(*v) + ")"; }))
    return std::nullopt;
  return v->get<bool>();
}

std::optional<std::string> field_reader::string(std::string_view key) {
  const nlohmann::json* v = find(key);
  if (failed() || !v) return std::nullopt;
  if (!check(v->is_string(), key,
             [&] { return param(key) + " must be a string (got " + describe(*v) + ")"; }))
    return std::nullopt;
  return v->get<std::string>();
}

std::optional<int32_t> field_reader::int32(std::string_view key) {
  const nlohmann::json* v = find(key);
  if (failed() || !v) return std::nullopt;
  const auto got = [&] { return " (got " + describe(*v) + ")"; };
  if (!check(is_integral_number(*v), key, [&] { return param(key) + " must be an integer" + got(); }))
    return std::nullopt;
  const std::optional<int64_t> i = integral_value(*v);
  if (!check(i && *i >= INT32_MIN && *i <= INT32_MAX, key,
             [&] { return param(key) + " is out of range for a 32-bit integer" + got(); }))
    return std::nullopt;
  return static_cast<int32_t>(*i);
}

std::optional<float> field_reader::real(std::string_view key) {
  const nlohmann::json* v = find(key);
  if (failed() || !v) return std::nullopt;
  if (!check(v->is_number(), key,
             [&] { return param(key) + " must be a number (got " + describe(*v) + ")"; }))
    return std::nullopt;
  const double d = v->get<double>();
  if (!check(std::isfinite(d) && std::fabs(d) <= FLT_MAX, key,
             [&] { return param(key) + " must be a finite number (got " + describe(*v) + ")"; }))
    return std::nullopt;
  return static_cast<float>(d);
}

void field_reader::fail(std::string_view key, std::string message) {
  if (!error_) error_ = bad_request(param(key), std::move(message));
}

void field_reader::fail(api_error e) {
  if (!error_) error_ = std::move(e);
}

}  // namespace hearth::proto

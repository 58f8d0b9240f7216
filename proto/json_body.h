#pragma once
// The first steps of every request parser: bytes -> JSON object, and typed access to its fields
// with OpenAI-style error messages that name the field ("max_tokens must be an integer").
//
// Conventions shared by every API:
// - A body must be valid UTF-8, JSON nested at most max_json_depth deep, and a JSON object.
// - Unknown fields are ignored; a field set to null is treated as absent.
// - Types are strict (a string is never read as a number, 0 is not false) except that an
//   integral number written with a fraction or exponent (16.0, 1e3) counts as an integer, as in
//   JSON Schema.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/api_error.h"

namespace hearth::proto {

// Deeper nesting is refused before parsing; requests need about 4 levels.
inline constexpr int max_json_depth = 64;

// UTF-8, nesting, syntax and top-level object checks, in that order. `what` names the input in
// messages ("request body", "message"). Never throws.
result<nlohmann::json> parse_json_object(std::string_view body,
                                         std::string_view what = "request body");

// A short JSON rendering of a value for "(got ...)" in messages: at most ~40 bytes, cut on a
// UTF-8 character boundary.
std::string describe(const nlohmann::json& value);

// A JSON number without a fractional part (of any magnitude).
bool is_integral_number(const nlohmann::json& value);

// The value of an integral JSON number (see above), or nullopt for anything else, including
// integral numbers outside int64.
std::optional<int64_t> integral_value(const nlohmann::json& value);

// Reads typed fields of one JSON object and keeps the first error. Each getter returns nullopt
// for an absent or null field, for a field of the wrong type or range (recording the error),
// and after any earlier error; so callers read all fields in sequence and check failed() once.
// Parameter names are prefix + key ("messages[2]." + "content").
class field_reader {
 public:
  explicit field_reader(const nlohmann::json& object, std::string prefix = {});

  // The field's value, or nullptr if absent or null. Not an error either way.
  const nlohmann::json* find(std::string_view key) const;

  std::optional<bool> boolean(std::string_view key);
  std::optional<std::string> string(std::string_view key);
  std::optional<int32_t> int32(std::string_view key);
  // Finite and representable as a float.
  std::optional<float> real(std::string_view key);

  // Records bad_request(param(key), message) unless an error is already recorded.
  void fail(std::string_view key, std::string message);
  // fail(key, message()) unless ok; returns ok. The message is built only on failure.
  template <class F>
  bool check(bool ok, std::string_view key, F&& message) {
    if (!ok) fail(key, message());
    return ok;
  }
  // Adopts an error built elsewhere (first error wins).
  void fail(api_error e);

  bool failed() const { return error_.has_value(); }
  const api_error& error() const { return *error_; }
  std::string param(std::string_view key) const { return prefix_ + std::string(key); }

 private:
  const nlohmann::json& object_;
  std::string prefix_;
  std::optional<api_error> error_;
};

}  // namespace hearth::proto

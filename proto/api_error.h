#pragma once
// The error every API returns for a request it will not serve, in OpenAI's shape:
//   {"error": {"message": str, "type": str, "param": str|null, "code": str|null}}
// and the result type of every parse_* function: a value or the error to send back.
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

namespace hearth::proto {

struct api_error {
  int status = 400;                              // HTTP status the server answers with
  std::string message;                           // names the field and what was wrong with it
  std::string type = "invalid_request_error";    // OpenAI's error type
  std::string param;                             // the offending field ("" -> JSON null)
  std::string code;                              // machine-readable code ("" -> JSON null)
};

nlohmann::json to_json(const api_error& e);

// 400 invalid_request_error naming `param`.
api_error bad_request(std::string param, std::string message);

// A parse result: the request, or the error to answer with. Never both, never neither.
template <class T>
using result = std::variant<T, api_error>;

template <class T>
bool is_error(const result<T>& r) { return std::holds_alternative<api_error>(r); }

// Compact JSON text for the wire. Never throws: invalid UTF-8 inside strings (which no request
// that passed validation can carry, but generated text might) becomes U+FFFD.
std::string serialize(const nlohmann::json& j);

}  // namespace hearth::proto

#include "proto/api_error.h"

namespace hearth::proto {

namespace {

nlohmann::json string_or_null(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

}  // namespace

nlohmann::json to_json(const api_error& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", string_or_null(e.param)},
            {"code", string_or_null(e.code)}}}};
}

api_error bad_request(std::string param, std::string message) {
  api_error e;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

std::string serialize(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace hearth::proto

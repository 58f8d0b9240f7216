#pragma once
// Building HTTP responses: JSON bodies, OpenAI-style errors, server-sent event streams.
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "proto/api_error.h"

namespace hearth {

namespace http = boost::beast::http;

// Beast (Boost 1.74) speaks boost::string_view; the rest of hearth speaks std::string_view.
inline std::string_view to_std(boost::beast::string_view s) { return {s.data(), s.size()}; }
inline boost::beast::string_view to_beast(std::string_view s) { return {s.data(), s.size()}; }

http::response<http::string_body> json_response(int status, const nlohmann::json& body);
http::response<http::string_body> text_response(int status, std::string body, std::string_view content_type);

// {"error":{"message","type","param","code"}} with the error's status.
http::response<http::string_body> error_response(const proto::api_error& e);
// The same, with the type following the status (invalid_request_error, authentication_error,
// permission_error, not_found_error, rate_limit_error, server_error).
http::response<http::string_body> error_response(int status, const std::string& message,
                                                 const std::string& param = "", const std::string& code = "");

// The header of a text/event-stream response (events are framed by proto::sse_data).
http::response<http::empty_body> sse_header();

}  // namespace hearth

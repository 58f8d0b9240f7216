#include "http_util.h"

#include "version.h"

namespace hearth {

namespace {

void common_headers(http::response_header<>& h) {
  h.set(http::field::server, "hearth/" HEARTH_VERSION);
  h.set(http::field::cache_control, "no-store");
  h.set("X-Content-Type-Options", "nosniff");
}

}  // namespace

http::response<http::string_body> json_response(int status, const nlohmann::json& body) {
  return text_response(status, proto::serialize(body), "application/json");
}

http::response<http::string_body> text_response(int status, std::string body, std::string_view content_type) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  common_headers(res.base());
  res.set(http::field::content_type, boost::beast::string_view(content_type.data(), content_type.size()));
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

namespace {

std::string error_type_for(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace

http::response<http::string_body> error_response(const proto::api_error& e) {
  return text_response(e.status, proto::serialize(proto::to_json(e)), "application/json");
}

http::response<http::string_body> error_response(int status, const std::string& message, const std::string& param,
                                                 const std::string& code) {
  return error_response(proto::api_error{status, message, error_type_for(status), param, code});
}

http::response<http::empty_body> sse_header() {
  http::response<http::empty_body> res{http::status::ok, 11};
  common_headers(res.base());
  res.set(http::field::content_type, "text/event-stream");
  res.set("X-Accel-Buffering", "no");
  return res;
}


}  // namespace hearth

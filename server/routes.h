#pragma once
// The HTTP API: which path and method go to which handler, and the checks every request passes
// first (Host and Origin, for a daemon that browsers on the same machine can reach; API keys).
//
// Called on the connection's strand, i.e. on an I/O thread: handlers parse, validate, render
// templates and tokenize here, and hand generations to the scheduler; they never run the model.
#include <memory>
#include <optional>

#include "app.h"
#include "http_exchange.h"
#include "http_util.h"

namespace hearth {

void route_request(app& a, const std::shared_ptr<http_exchange>& ex, http::request<http::string_body>&& req);

// nullopt if a WebSocket upgrade on this request may proceed; otherwise the refusal to send.
std::optional<http::response<http::string_body>> check_websocket_upgrade(app& a,
                                                                         const http::request<http::string_body>& req);

// Request gates shared by HTTP routes and the WebSocket upgrade. Each returns the refusal, if any.
std::optional<http::response<http::string_body>> check_host(const app& a, const http::request<http::string_body>& req);
std::optional<http::response<http::string_body>> check_origin(const app& a, const http::request<http::string_body>& req);
std::optional<http::response<http::string_body>> check_api_key(const app& a, const http::request<http::string_body>& req);
// The API key a browser page offered as the WebSocket subprotocol "hearth.bearer.<key>".
std::optional<std::string_view> websocket_key_protocol(const http::request<http::string_body>& req);

// Generation endpoints (generate_routes.cpp).
void handle_generate(app& a, const std::shared_ptr<http_exchange>& ex, const http::request<http::string_body>& req);
void handle_completions(app& a, const std::shared_ptr<http_exchange>& ex, const http::request<http::string_body>& req);
void handle_chat(app& a, const std::shared_ptr<http_exchange>& ex, const http::request<http::string_body>& req);

// The page served at GET / (web_page.cpp).
std::string_view web_page_html();

}  // namespace hearth

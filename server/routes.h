#pragma once
// The HTTP API: one table of routes (path, method, whether it needs the model and a key) from
// which requests are dispatched, the Allow header and the metrics label are derived; and the
// checks every request passes first (Host and Origin, for a daemon that browsers on the same
// machine can reach; API keys; CORS).
//
// A request is decided in two steps. admit_request() looks at the head alone, before the body
// is read, so refusals (and "Expect: 100-continue") are answered without reading a body.
// dispatch_request() runs the route on the complete request.
//
// Called on the connection's strand, i.e. on an I/O thread: handlers parse, validate, render
// templates and tokenize here, and hand generations to the scheduler; they never run the model.
#include <memory>
#include <optional>
#include <string_view>
#include <variant>

#include "app.h"
#include "http_exchange.h"
#include "http_head.h"
#include "http_util.h"

namespace hearth {

struct route {
  std::string_view path;  // the whole path, or with `prefix` what it starts with
  http::verb method;      // a GET route answers HEAD too
  bool needs_model;
  bool needs_key;
  bool generates = false;       // runs the model's generation: refused (400) by an embedding model
  bool prefix = false;          // the path continues with one non-empty segment: a resource id
  std::string_view label = {};  // the metrics label of a prefix route ("/v1/models/{id}")
};

// The route at a (decoded) path, or nullptr. A prefix route matches its prefix followed by one
// non-empty segment without '/'.
const route* find_route(std::string_view path);
// The metrics label of a path: its route's path, or "other" (labels stay bounded).
std::string_view endpoint_label(std::string_view path);
// The Allow header of a route: "GET, HEAD, OPTIONS" or "POST, OPTIONS".
std::string_view allowed_methods(const route& r);

struct admission {
  const route* to = nullptr;  // read the body, then dispatch_request() this route; or
  std::optional<http::response<http::string_body>> answer;  // answer this at once (never both)
  bool upgrade = false;       // a WebSocket upgrade: with `to`, the handshake may proceed
};

// Decides on a request from its head (framing already checked by check_framing) and its parsed
// target: method, Host (the target's authority in absolute-form), Origin, route, WebSocket
// handshake, API key, model readiness, Expect, Content-Length against the body limit; answers
// OPTIONS (CORS preflights included) itself.
admission admit_request(app& a, const http::request_header<>& head,
                        const std::variant<request_target, head_refusal>& target);

// Runs an admitted route on the complete request; the exchange gets the answer.
void dispatch_request(app& a, const std::shared_ptr<http_exchange>& ex, const route& r,
                      http::request<http::string_body>&& req);

// CORS headers for an answer to a request from `origin` ("" = none), if that origin is allowed.
void add_cors(const app& a, std::string_view origin, http::response_header<>& res);

// The API key a browser page offered as the WebSocket subprotocol "hearth.bearer.<key>".
std::optional<std::string_view> websocket_key_protocol(const http::request_header<>& req);
// The API key the request presents (Authorization: Bearer, the WebSocket subprotocol, x-api-key).
std::optional<std::string_view> presented_api_key(const http::request_header<>& req);
// The prefix cache partition of a request (scheduler.h): its API key when keys are configured
// (the request was checked against them), else "" (one local user).
std::string cache_partition(const app& a, const http::request_header<>& req);

// Who a generation is for, in fair shares (scheduler.h client_share): with API keys, the key
// presented; else the connection's peer address and the request's Origin. Its weight and cap are
// the config's first --client-weight / --client-max-running rule naming the key, the origin,
// the peer address, or *.
client_share client_of(const app& a, const http::request_header<>& req, std::string_view peer);

// Generation endpoints (generate_routes.cpp).
void handle_generate(app& a, const std::shared_ptr<http_exchange>& ex, const http::request<http::string_body>& req);
void handle_completions(app& a, const std::shared_ptr<http_exchange>& ex, const http::request<http::string_body>& req);
void handle_chat(app& a, const std::shared_ptr<http_exchange>& ex, const http::request<http::string_body>& req);
void handle_responses(app& a, const std::shared_ptr<http_exchange>& ex, const http::request<http::string_body>& req);
void handle_messages(app& a, const std::shared_ptr<http_exchange>& ex, const http::request<http::string_body>& req);
void handle_count_tokens(app& a, const std::shared_ptr<http_exchange>& ex, const http::request<http::string_body>& req);
// POST /v1/embeddings (embedding_routes.cpp).
void handle_embeddings(app& a, const std::shared_ptr<http_exchange>& ex, const http::request<http::string_body>& req);

// The page served at GET / (web_page.cpp).
std::string_view web_page_html();

}  // namespace hearth

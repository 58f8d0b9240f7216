#include "routes.h"

#include <boost/asio/ip/address.hpp>
#include <cstdio>

#include "generation_setup.h"
#include "proto/native_api.h"
#include "proto/openai_api.h"

namespace hearth {

namespace {

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

// The host part of a Host header or an Origin's authority, without port or brackets.
std::string_view host_part(std::string_view authority) {
  if (authority.starts_with("[")) {
    auto end = authority.find(']');
    return end == std::string_view::npos ? authority : authority.substr(1, end - 1);
  }
  return authority.substr(0, authority.find(':'));
}

bool is_loopback_name(std::string_view host) {
  if (host == "localhost" || host.ends_with(".localhost")) return true;
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(std::string(host), ec);
  return !ec && addr.is_loopback();
}

bool listening_on_loopback(const app& a) { return is_loopback_name(a.config.host); }

// Compares in time that depends only on the key's length, not on how much of it matched.
bool same_secret(std::string_view given, std::string_view key) {
  size_t diff = given.size() ^ key.size();
  for (size_t i = 0; i < key.size(); ++i) {
    diff |= static_cast<unsigned char>(key[i]) ^ static_cast<unsigned char>(i < given.size() ? given[i] : 0);
  }
  return diff == 0;
}

void add_cors(const app& a, const request& req, response& res) {
  auto origin = to_std(req[http::field::origin]);
  if (origin.empty()) return;
  for (const auto& allowed : a.config.cors_origins) {
    if (allowed == origin || allowed == "*") {
      res.set(http::field::access_control_allow_origin, to_beast(origin));
      res.set(http::field::vary, "Origin");
      return;
    }
  }
}

response preflight(const app& a, const request& req) {
  response res = text_response(204, "", "text/plain");
  add_cors(a, req, res);
  res.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
  res.set(http::field::access_control_allow_headers, "Authorization, Content-Type");
  res.set(http::field::access_control_max_age, "600");
  return res;
}

// 503 once the model file changed on disk: the daemon cannot serve again until restarted.
response health(const app& a) {
  if (a.is_ready()) {
    auto changed = a.engine_scheduler->model_failure();
    if (!changed) changed = a.loaded_model->file_changed();
    if (changed) return json_response(503, {{"status", "error"}, {"error", *changed}});
    return json_response(200, {{"status", "ok"}});
  }
  if (auto* f = a.failure()) return json_response(503, {{"status", "error"}, {"error", *f}});
  return json_response(503, {{"status", "loading"}});
}

response metrics_page(app& a) {
  scheduler_stats s = a.is_ready() ? a.engine_scheduler->stats() : scheduler_stats{};
  return text_response(200, a.stats.render(s), "text/plain; version=0.0.4; charset=utf-8");
}

response not_ready(const app& a) {
  if (auto* f = a.failure()) return error_response(503, "the model failed to load: " + *f);
  return error_response(503, "the model is still loading; retry shortly", "", "model_loading");
}

// The endpoint name used as a metrics label: known paths only, so labels stay bounded.
std::string_view endpoint_label(std::string_view path) {
  for (std::string_view known : {"/", "/favicon.ico", "/health", "/metrics", "/v1/models", "/v1/tokenize", "/v1/detokenize",
                                 "/v1/generate", "/v1/completions", "/v1/chat/completions", "/v1/ws"}) {
    if (path == known) return known;
  }
  return "other";
}

struct route {
  std::string_view path;
  http::verb method;
  bool needs_model;
  bool needs_key;
};

const route routes[] = {
    {"/", http::verb::get, false, false},
    {"/favicon.ico", http::verb::get, false, false},
    {"/health", http::verb::get, false, false},
    {"/metrics", http::verb::get, false, true},
    {"/v1/models", http::verb::get, true, true},
    {"/v1/tokenize", http::verb::post, true, true},
    {"/v1/detokenize", http::verb::post, true, true},
    {"/v1/generate", http::verb::post, true, true},
    {"/v1/completions", http::verb::post, true, true},
    {"/v1/chat/completions", http::verb::post, true, true},
    {"/v1/ws", http::verb::get, true, true},
};

void dispatch(app& a, const std::shared_ptr<http_exchange>& ex, const request& req, const route& r);

}  // namespace

std::optional<response> check_host(const app& a, const request& req) {
  // A daemon on loopback answers only requests addressed to a loopback name: a web page cannot
  // reach it through DNS rebinding (a hostile name that resolves to 127.0.0.1).
  if (!listening_on_loopback(a)) return std::nullopt;
  auto host = to_std(req[http::field::host]);
  if (host.empty() || is_loopback_name(host_part(host))) return std::nullopt;
  return error_response(403, "Host '" + std::string(host) + "' is not this server's; use localhost or 127.0.0.1");
}

std::optional<response> check_origin(const app& a, const request& req) {
  // Browsers send Origin on cross-site requests: only the page's own origin and configured ones
  // may use the API, so another site open in the user's browser cannot drive the daemon.
  auto origin = to_std(req[http::field::origin]);
  if (origin.empty()) return std::nullopt;
  auto host = to_std(req[http::field::host]);
  for (std::string_view scheme : {"http://", "https://"}) {
    if (origin.starts_with(scheme) && origin.substr(scheme.size()) == host) return std::nullopt;
  }
  for (const auto& allowed : a.config.cors_origins) {
    if (allowed == origin || allowed == "*") return std::nullopt;
  }
  return error_response(403, "origin '" + std::string(origin) + "' is not allowed (see --cors-origin)");
}

std::optional<response> check_api_key(const app& a, const request& req) {
  if (a.config.api_keys.empty()) return std::nullopt;
  std::optional<std::string_view> key;
  auto auth = to_std(req[http::field::authorization]);
  constexpr std::string_view bearer = "Bearer ";
  if (auth.starts_with(bearer)) key = auth.substr(bearer.size());
  if (!key) key = websocket_key_protocol(req);
  if (!key) {
    return error_response(401, "missing API key: send 'Authorization: Bearer <key>'", "", "invalid_api_key");
  }
  bool ok = false;
  for (const auto& k : a.config.api_keys) ok |= same_secret(*key, k);
  if (ok) return std::nullopt;
  return error_response(401, "invalid API key", "", "invalid_api_key");
}

std::optional<std::string_view> websocket_key_protocol(const request& req) {
  // Browsers cannot set headers on a WebSocket, only subprotocols: the page offers its key as
  // the protocol "hearth.bearer.<key>" (the server echoes it back on success).
  constexpr std::string_view prefix = "hearth.bearer.";
  std::string_view offered = to_std(req[http::field::sec_websocket_protocol]);
  while (!offered.empty()) {
    const size_t comma = offered.find(',');
    std::string_view p = offered.substr(0, comma);
    while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
    while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
    if (p.starts_with(prefix)) return p.substr(prefix.size());
    offered = comma == std::string_view::npos ? std::string_view() : offered.substr(comma + 1);
  }
  return std::nullopt;
}

std::optional<response> check_websocket_upgrade(app& a, const request& req) {
  std::string_view path = to_std(req.target());
  path = path.substr(0, path.find('?'));
  std::optional<response> refusal;
  if (path != "/v1/ws") refusal = error_response(404, "no WebSocket endpoint at " + std::string(path));
  if (!refusal) refusal = check_host(a, req);
  if (!refusal) refusal = check_origin(a, req);
  if (!refusal) refusal = check_api_key(a, req);
  if (!refusal && !a.is_ready()) refusal = not_ready(a);
  a.stats.count_request("/v1/ws", refusal ? refusal->result_int() : 101);
  return refusal;
}

void route_request(app& a, const std::shared_ptr<http_exchange>& ex, request&& req) {
  std::string_view path = to_std(req.target());
  path = path.substr(0, path.find('?'));
  auto answer = [&](response res) {
    add_cors(a, req, res);
    a.stats.count_request(endpoint_label(path), res.result_int());
    ex->respond(std::move(res));
  };
  if (auto r = check_host(a, req)) return answer(std::move(*r));
  if (auto r = check_origin(a, req)) return answer(std::move(*r));
  if (req.method() == http::verb::options) return answer(preflight(a, req));
  const route* match = nullptr;
  bool path_known = false;
  for (const route& r : routes) {
    if (r.path != path) continue;
    path_known = true;
    if (r.method == req.method()) match = &r;
  }
  if (!path_known) return answer(error_response(404, "no endpoint at " + std::string(path)));
  if (!match) {
    response res = error_response(405, "method " + std::string(to_std(req.method_string())) + " is not allowed on " +
                                           std::string(path));
    res.set(http::field::allow, path == "/" || path == "/favicon.ico" || path == "/health" || path == "/metrics" || path == "/v1/models" ||
                                        path == "/v1/ws"
                                    ? "GET, OPTIONS"
                                    : "POST, OPTIONS");
    return answer(std::move(res));
  }
  if (match->needs_key) {
    if (auto r = check_api_key(a, req)) return answer(std::move(*r));
  }
  if (match->needs_model && !a.is_ready()) return answer(not_ready(a));
  if (path == "/v1/ws") return answer(error_response(400, "this endpoint needs a WebSocket upgrade"));
  dispatch(a, ex, req, *match);
}

namespace {

void dispatch(app& a, const std::shared_ptr<http_exchange>& ex, const request& req, const route& r) {
  auto answer = [&](response res) {
    add_cors(a, req, res);
    a.stats.count_request(r.path, res.result_int());
    ex->respond(std::move(res));
  };
  if (r.path == "/") {
    response res = text_response(200, std::string(web_page_html()), "text/html; charset=utf-8");
    res.set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'");
    return answer(std::move(res));
  }
  if (r.path == "/favicon.ico") return answer(text_response(204, "", "image/x-icon"));  // no icon, no error
  if (r.path == "/health") return answer(health(a));
  if (r.path == "/metrics") return answer(metrics_page(a));
  if (r.path == "/v1/models") return answer(json_response(200, proto::models_response(a.model_id, a.model_created)));
  if (r.path == "/v1/tokenize") {
    auto parsed = proto::parse_tokenize(req.body());
    if (auto* err = std::get_if<proto::api_error>(&parsed)) return answer(error_response(*err));
    const auto& t = std::get<proto::tokenize_request>(parsed);
    auto ids = a.loaded_model->vocab().tokenize(t.content, t.add_special, t.parse_special);
    return answer(json_response(200, proto::tokenize_response(ids)));
  }
  if (r.path == "/v1/detokenize") {
    auto parsed = proto::parse_detokenize(req.body(), model_limits(a));
    if (auto* err = std::get_if<proto::api_error>(&parsed)) return answer(error_response(*err));
    const auto& t = std::get<proto::detokenize_request>(parsed);
    return answer(json_response(200, proto::detokenize_response(a.loaded_model->vocab().detokenize(t.tokens))));
  }
  if (r.path == "/v1/generate") return handle_generate(a, ex, req);
  if (r.path == "/v1/completions") return handle_completions(a, ex, req);
  if (r.path == "/v1/chat/completions") return handle_chat(a, ex, req);
}

}  // namespace

}  // namespace hearth

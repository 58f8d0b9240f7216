#include "routes.h"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "generation_setup.h"
#include "proto/native_api.h"
#include "proto/openai_api.h"

namespace hearth {

namespace {

using request_header = http::request_header<>;
using response = http::response<http::string_body>;

// The API. Everything else about a route (Allow, metrics label, HEAD) follows from this table.
constexpr route routes[] = {
    {"/", http::verb::get, false, false},
    {"/favicon.ico", http::verb::get, false, false},
    {"/health", http::verb::get, false, false},
    {"/metrics", http::verb::get, false, true},
    {"/v1/models", http::verb::get, true, true},
    {"/v1/models/", http::verb::get, true, true, false, true, "/v1/models/{id}"},
    {"/v1/tokenize", http::verb::post, true, true},
    {"/v1/detokenize", http::verb::post, true, true},
    {"/v1/generate", http::verb::post, true, true, true},
    {"/v1/completions", http::verb::post, true, true, true},
    {"/v1/chat/completions", http::verb::post, true, true, true},
    {"/v1/responses", http::verb::post, true, true, true},
    {"/v1/messages", http::verb::post, true, true, true},
    {"/v1/messages/count_tokens", http::verb::post, true, true, true},
    {"/v1/embeddings", http::verb::post, true, true},
    {"/v1/ws", http::verb::get, true, true, true},
};

// Methods some route answers; any other method is 501 whatever the target.
bool served_method(http::verb m) {
  return m == http::verb::get || m == http::verb::head || m == http::verb::post || m == http::verb::options;
}

bool iequals(std::string_view a, std::string_view b) { return boost::beast::iequals(to_beast(a), to_beast(b)); }

// The host part of a Host header or an Origin's authority, without port or brackets.
std::string_view host_part(std::string_view authority) {
  if (authority.starts_with("[")) {
    auto end = authority.find(']');
    return end == std::string_view::npos ? authority : authority.substr(1, end - 1);
  }
  return authority.substr(0, authority.find(':'));
}

// Host names are case-insensitive (RFC 9110 4.2.3); a trailing dot names the same host.
bool is_loopback_name(std::string_view host) {
  if (host.ends_with(".")) host.remove_suffix(1);
  if (iequals(host, "localhost")) return true;
  if (host.size() > 10 && iequals(host.substr(host.size() - 10), ".localhost")) return true;
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

bool origin_configured(const app& a, std::string_view origin) {
  for (const auto& allowed : a.config.cors_origins) {
    if (allowed == origin || allowed == "*") return true;
  }
  return false;
}

std::optional<response> check_host(const app& a, const request_header& req, std::string_view authority) {
  // A daemon on loopback answers only requests addressed to a loopback name: a web page cannot
  // reach it through DNS rebinding (a hostile name that resolves to 127.0.0.1).
  if (!listening_on_loopback(a)) return std::nullopt;
  const std::string_view host = authority.empty() ? to_std(req[http::field::host]) : authority;
  if (host.empty() || is_loopback_name(host_part(host))) return std::nullopt;
  return error_response(403, "Host '" + std::string(host) + "' is not this server's; use localhost or 127.0.0.1");
}

std::optional<response> check_origin(const app& a, const request_header& req) {
  // Browsers send Origin on cross-site requests: only the page's own origin and configured ones
  // may use the API, so another site open in the user's browser cannot drive the daemon.
  auto origin = to_std(req[http::field::origin]);
  if (origin.empty()) return std::nullopt;
  auto host = to_std(req[http::field::host]);
  for (std::string_view scheme : {"http://", "https://"}) {
    if (origin.starts_with(scheme) && iequals(origin.substr(scheme.size()), host)) return std::nullopt;
  }
  if (origin_configured(a, origin)) return std::nullopt;
  return error_response(403, "origin '" + std::string(origin) + "' is not allowed (see --cors-origin)");
}

}  // namespace

std::optional<std::string_view> presented_api_key(const request_header& req) {
  // RFC 9110 11.1: the scheme is case-insensitive; RFC 6750: "Bearer" 1*SP token.
  std::optional<std::string_view> key;
  std::string_view auth = to_std(req[http::field::authorization]);
  const size_t sp = auth.find(' ');
  if (sp != std::string_view::npos && iequals(auth.substr(0, sp), "Bearer")) {
    std::string_view k = auth.substr(sp);
    while (!k.empty() && k.front() == ' ') k.remove_prefix(1);
    if (!k.empty()) key = k;
  }
  if (!key) key = websocket_key_protocol(req);
  // Anthropic's clients send the key as x-api-key.
  if (std::string_view x = to_std(req["x-api-key"]); !key && !x.empty()) key = x;
  return key;
}

std::string cache_partition(const app& a, const request_header& req) {
  if (a.config.api_keys.empty()) return {};
  return std::string(presented_api_key(req).value_or(""));
}

client_share client_of(const app& a, const request_header& req, std::string_view peer) {
  const std::string_view origin = to_std(req[http::field::origin]);
  std::string_view key;
  client_share c;
  if (!a.config.api_keys.empty()) {
    key = presented_api_key(req).value_or("");
    c.id = "key " + std::string(key);
  } else {
    c.id = "peer " + std::string(peer) + " " + std::string(origin);
  }
  c.weight = client_rule(a.config.client_weights, {key, origin, peer}, 1);
  c.max_running = client_rule(a.config.client_max_running, {key, origin, peer}, 0);
  return c;
}

namespace {

std::optional<response> check_api_key(const app& a, const request_header& req) {
  if (a.config.api_keys.empty()) return std::nullopt;
  const std::optional<std::string_view> key = presented_api_key(req);
  bool ok = false;
  if (key) {
    for (const auto& k : a.config.api_keys) ok |= same_secret(*key, k);
  }
  if (ok) return std::nullopt;
  response res = key ? error_response(401, "invalid API key", "", "invalid_api_key")
                     : error_response(401, "missing API key: send 'Authorization: Bearer <key>' (or 'x-api-key: <key>')", "", "invalid_api_key");
  // RFC 6750 3: the challenge, and why a key that was sent failed.
  res.set(http::field::www_authenticate, key ? "Bearer realm=\"hearth\", error=\"invalid_token\"" : "Bearer realm=\"hearth\"");
  return res;
}

// A syntactically valid opening handshake (RFC 6455 4.2.1), so Beast never refuses it later.
std::optional<response> check_websocket_handshake(const request_header& req) {
  if (req[http::field::sec_websocket_version] != "13") {
    response res = error_response(426, "only WebSocket version 13 is supported");
    res.set(http::field::sec_websocket_version, "13");
    return res;
  }
  const std::string_view key = to_std(req[http::field::sec_websocket_key]);
  const bool base64_16 = key.size() == 24 && key.ends_with("==") && std::all_of(key.begin(), key.end() - 2, [](char c) {
                           return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
                         });
  if (!base64_16) return error_response(400, "Sec-WebSocket-Key must be 16 bytes in base64");
  if (req[http::field::content_length] != "" && req[http::field::content_length] != "0") {
    return error_response(400, "a WebSocket upgrade request carries no body");
  }
  return std::nullopt;
}

response not_ready(const app& a) {
  if (auto* f = a.failure()) return error_response(503, "the model failed to load: " + *f);
  return error_response(503, "the model is still loading; retry shortly", "", "model_loading");
}

// OPTIONS on a route: a CORS preflight (Access-Control-Request-Method present) or a plain
// question about the methods.
response options_answer(const request_header& req, const route& r) {
  response res = text_response(204, "", "text/plain");
  res.set(http::field::allow, to_beast(allowed_methods(r)));
  if (req[http::field::access_control_request_method].empty()) return res;
  // Browsers ask for each non-safelisted header a script adds (the openai SDK adds x-stainless-*);
  // the origin is trusted (check_origin passed), so every well-formed name is allowed.
  std::string allowed;
  std::string_view requested = to_std(req[http::field::access_control_request_headers]);
  while (!requested.empty()) {
    const size_t comma = requested.find(',');
    std::string_view name = requested.substr(0, comma);
    while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (!name.empty()) {
      if (!is_token(name)) {
        return error_response(400, "Access-Control-Request-Headers names an invalid header '" + std::string(name) + "'");
      }
      allowed += (allowed.empty() ? "" : ", ") + std::string(name);
    }
    requested = comma == std::string_view::npos ? std::string_view() : requested.substr(comma + 1);
  }
  res.set(http::field::access_control_allow_methods, to_beast(allowed_methods(r)));
  if (!allowed.empty()) res.set(http::field::access_control_allow_headers, allowed);
  res.set(http::field::access_control_max_age, "600");
  // The answer depends on the origin and on the headers asked for.
  res.set(http::field::vary, "Origin, Access-Control-Request-Headers");
  return res;
}

// 503 once the model file changed on disk: the daemon cannot serve again until restarted.
response health(const app& a) {
  if (a.is_ready()) {
    auto changed = a.engine_scheduler->model_failure();
    if (!changed && a.loaded_model) changed = a.loaded_model->file_changed();
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

}  // namespace

const route* find_route(std::string_view path) {
  for (const route& r : routes) {
    if (r.path == path && !r.prefix) return &r;
    if (r.prefix && path.starts_with(r.path) && path.size() > r.path.size() &&
        path.find('/', r.path.size()) == std::string_view::npos) {
      return &r;
    }
  }
  return nullptr;
}

std::string_view endpoint_label(std::string_view path) {
  const route* r = find_route(path);
  return r ? (r->label.empty() ? r->path : r->label) : "other";
}

std::string_view allowed_methods(const route& r) {
  return r.method == http::verb::get ? "GET, HEAD, OPTIONS" : "POST, OPTIONS";
}

void add_cors(const app& a, std::string_view origin, http::response_header<>& res) {
  if (origin.empty() || !origin_configured(a, origin)) return;
  res.set(http::field::access_control_allow_origin, to_beast(origin));
  res.set(http::field::access_control_expose_headers, "x-request-id");
  if (res.count(http::field::vary) == 0) res.set(http::field::vary, "Origin");  // preflights set their own
}

std::optional<std::string_view> websocket_key_protocol(const request_header& req) {
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

admission admit_request(app& a, const request_header& head, const std::variant<request_target, head_refusal>& target) {
  admission out;
  auto answer = [&](response res) {
    out.answer = std::move(res);
    return std::move(out);
  };
  const http::verb m = head.method();
  if (!served_method(m)) {
    return answer(error_response(501, "method " + std::string(to_std(head.method_string())) + " is not supported"));
  }
  if (const auto* bad = std::get_if<head_refusal>(&target)) return answer(error_response(bad->status, bad->message));
  const request_target& t = std::get<request_target>(target);
  if (auto r = check_host(a, head, t.authority)) return answer(std::move(*r));
  if (auto r = check_origin(a, head)) return answer(std::move(*r));
  if (t.asterisk) {
    if (m != http::verb::options) return answer(error_response(400, "the request-target * is only for OPTIONS"));
    response res = text_response(204, "", "text/plain");
    res.set(http::field::allow, "GET, HEAD, POST, OPTIONS");
    return answer(std::move(res));
  }
  const route* r = find_route(t.path);
  const bool upgrade = boost::beast::websocket::is_upgrade(head);
  out.upgrade = upgrade;
  if (!r || (upgrade && r->path != "/v1/ws")) {
    return answer(error_response(404, std::string(upgrade ? "no WebSocket endpoint at " : "no endpoint at ") + t.path));
  }
  if (m == http::verb::options) return answer(options_answer(head, *r));
  if (m != r->method && !(m == http::verb::head && r->method == http::verb::get)) {
    response res = error_response(405, "method " + std::string(to_std(head.method_string())) + " is not allowed on " + t.path);
    res.set(http::field::allow, to_beast(allowed_methods(*r)));
    return answer(std::move(res));
  }
  if (upgrade) {
    if (auto bad = check_websocket_handshake(head)) return answer(std::move(*bad));
  }
  if (r->needs_key) {
    if (auto bad = check_api_key(a, head)) return answer(std::move(*bad));
  }
  if (r->needs_model && !a.is_ready()) return answer(not_ready(a));
  if (r->generates && !a.engine_scheduler->generates()) {
    return answer(error_response(proto::api_error{400,
                                                  "the model '" + a.model_id +
                                                      "' is an embedding model: it cannot generate text (use POST /v1/embeddings)",
                                                  "invalid_request_error", "model", "model_not_generative"}));
  }
  if (r->path == "/v1/ws" && !upgrade) return answer(error_response(400, "this endpoint needs a WebSocket upgrade"));
  const std::string_view expect = to_std(head[http::field::expect]);
  if (!expect.empty() && head.version() >= 11 && !iequals(expect, "100-continue")) {
    return answer(error_response(417, "the expectation '" + std::string(expect) + "' is not supported"));
  }
  const std::string_view length = to_std(head[http::field::content_length]);
  if (!length.empty() && (length.size() > 18 || std::stoll(std::string(length)) > a.config.body_limit)) {
    return answer(error_response(413, "request body exceeds the limit of " + std::to_string(a.config.body_limit) + " bytes",
                                 "body"));
  }
  out.to = r;
  return out;
}

void dispatch_request(app& a, const std::shared_ptr<http_exchange>& ex, const route& r,
                      http::request<http::string_body>&& req) {
  const std::string_view path = r.path;
  if (path == "/") {
    response res = text_response(200, std::string(web_page_html()), "text/html; charset=utf-8");
    res.set("Content-Security-Policy",
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'");
    return ex->respond(std::move(res));
  }
  if (path == "/favicon.ico") return ex->respond(text_response(204, "", "image/x-icon"));  // no icon, no error
  if (path == "/health") return ex->respond(health(a));
  if (path == "/metrics") return ex->respond(metrics_page(a));
  if (path == "/v1/models") return ex->respond(json_response(200, proto::models_response(a.model_id, a.model_created)));
  if (path == "/v1/models/") {
    // OpenAI's retrieve: the one model by its id; any other id is 404, as OpenAI answers.
    // The target parsed when the request was admitted: the id is the decoded path's last segment.
    const auto target = parse_target(to_std(req.target()));
    const std::string wanted = std::get<request_target>(target).path.substr(path.size());
    if (wanted != a.model_id) {
      return ex->respond(error_response(proto::api_error{404, "The model '" + wanted + "' does not exist; this server serves '" +
                                                                  a.model_id + "'",
                                                         "invalid_request_error", "model", "model_not_found"}));
    }
    return ex->respond(json_response(200, proto::model_object(a.model_id, a.model_created)));
  }
  if (path == "/v1/tokenize") {
    auto parsed = proto::parse_tokenize(req.body());
    if (auto* err = std::get_if<proto::api_error>(&parsed)) return ex->respond(error_response(*err));
    const auto& t = std::get<proto::tokenize_request>(parsed);
    auto ids = a.vocabulary->tokenize(t.content, t.add_special, t.parse_special);
    return ex->respond(json_response(200, proto::tokenize_response(ids)));
  }
  if (path == "/v1/detokenize") {
    auto parsed = proto::parse_detokenize(req.body(), model_limits(a));
    if (auto* err = std::get_if<proto::api_error>(&parsed)) return ex->respond(error_response(*err));
    const auto& t = std::get<proto::detokenize_request>(parsed);
    return ex->respond(json_response(200, proto::detokenize_response(a.vocabulary->detokenize(t.tokens))));
  }
  if (path == "/v1/generate") return handle_generate(a, ex, req);
  if (path == "/v1/completions") return handle_completions(a, ex, req);
  if (path == "/v1/chat/completions") return handle_chat(a, ex, req);
  if (path == "/v1/responses") return handle_responses(a, ex, req);
  if (path == "/v1/messages") return handle_messages(a, ex, req);
  if (path == "/v1/messages/count_tokens") return handle_count_tokens(a, ex, req);
  if (path == "/v1/embeddings") return handle_embeddings(a, ex, req);
}

}  // namespace hearth

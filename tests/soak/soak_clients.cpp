#include "soak_clients.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <random>

#include "soak_checks.h"

namespace hearth::soak {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using net::awaitable;
using net::use_awaitable;
using nlohmann::json;

// No single exchange with the bundled model takes near this long, even with 32 clients on 2 cores.
constexpr auto op_timeout = std::chrono::seconds(60);

const char* const prompts[] = {"Once upon a time", "Lily and Tom went to the park", "The little dog",
                               "One day, a big red ball", "Sam was sad because", "The sun was hot. Mia"};

class dice {
 public:
  explicit dice(uint64_t seed) : g_(seed) {}
  int below(int n) { return std::uniform_int_distribution<int>(0, n - 1)(g_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(g_); }
  uint64_t draw() { return g_(); }

 private:
  std::mt19937_64 g_;
};

struct planned {
  request_shape shape;
  std::string path;
  std::string op;  // the name it is tallied under
  json body;
};

// A random request of a random API: greedy or seeded sampling, sometimes stop strings.
planned plan_request(dice& d, bool stream) {
  planned p;
  p.shape.kind = static_cast<api>(d.below(3));
  p.shape.stream = stream;
  p.shape.max_tokens = 1 + d.below(24);
  const char* prompt = prompts[d.below(std::size(prompts))];
  json& b = p.body;
  b["max_tokens"] = p.shape.max_tokens;
  b["stream"] = stream;
  if (d.chance(0.5)) {
    b["temperature"] = 0.8;
    b["seed"] = d.draw() >> 12;
  } else {
    b["temperature"] = 0;
  }
  if (d.chance(0.2)) b["stop"] = json::array({"."});
  switch (p.shape.kind) {
    case api::completion:
      p.path = "/v1/completions";
      p.op = "completion";
      b["prompt"] = prompt;
      break;
    case api::chat:
      p.path = "/v1/chat/completions";
      p.op = "chat";
      b["messages"] = json::array();
      if (d.chance(0.5)) b["messages"].push_back({{"role", "system"}, {"content", "You tell short stories."}});
      b["messages"].push_back({{"role", "user"}, {"content", prompt}});
      break;
    case api::generate:
      p.path = "/v1/generate";
      p.op = "generate";
      if (d.chance(0.3)) {
        b["tokens"] = json::array({1, 403, 407});  // BOS and two ids of the bundled model's 512
      } else {
        b["prompt"] = prompt;
      }
      break;
  }
  if (stream && p.shape.kind != api::generate && d.chance(0.5)) {
    b["stream_options"] = {{"include_usage", true}};
    p.shape.include_usage = true;
  }
  p.op += stream ? " stream" : "";
  return p;
}

http::request<http::string_body> make_post(const soak_target& t, const std::string& path, std::string body) {
  http::request<http::string_body> req(http::verb::post, path, 11);
  req.set(http::field::host, t.host + ":" + std::to_string(t.port));
  req.set(http::field::content_type, "application/json");
  if (!t.api_key.empty()) req.set(http::field::authorization, "Bearer " + t.api_key);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

awaitable<beast::tcp_stream> connect(const soak_target& t) {
  auto ex = co_await net::this_coro::executor;
  tcp::resolver resolver(ex);
  auto endpoints = co_await resolver.async_resolve(t.host, std::to_string(t.port), use_awaitable);
  beast::tcp_stream s(ex);
  s.expires_after(op_timeout);
  co_await s.async_connect(endpoints, use_awaitable);
  co_return s;
}

// Closes with a reset, as a client that crashes or loses its network would.
void drop(tcp::socket& s) {
  beast::error_code ec;
  s.set_option(net::socket_base::linger(true, 0), ec);
  s.close(ec);
}

std::string status_error(unsigned status, const std::string& body) {
  return "HTTP " + std::to_string(status) + ": " + body.substr(0, 200);
}

// 1 to 3 non-streamed requests over one keep-alive connection.
awaitable<void> plain_requests(const soak_target& t, dice& d, soak_tally& tally) {
  beast::tcp_stream s = co_await connect(t);
  beast::flat_buffer buf;
  for (int n = 1 + d.below(3); n > 0; --n) {
    const planned p = plan_request(d, false);
    auto req = make_post(t, p.path, p.body.dump());
    s.expires_after(op_timeout);
    co_await http::async_write(s, req, use_awaitable);
    http::response<http::string_body> res;
    co_await http::async_read(s, buf, res, use_awaitable);
    if (res.result_int() != 200) {
      tally.error(p.op, status_error(res.result_int(), res.body()));
    } else if (std::string e = check_body(p.shape, res.body()); !e.empty()) {
      tally.error(p.op, e + " in " + res.body().substr(0, 200));
    } else {
      tally.ok(p.op);
    }
    if (!res.keep_alive()) co_return;
  }
  beast::error_code ec;
  s.socket().shutdown(tcp::socket::shutdown_both, ec);
}

// One streamed request, read to its end or dropped after `drop_after` events (< 0: never).
awaitable<void> streamed_request(const soak_target& t, dice& d, int drop_after, soak_tally& tally) {
  const planned p = plan_request(d, true);
  const std::string op = p.op + (drop_after >= 0 ? " dropped" : "");
  beast::tcp_stream s = co_await connect(t);
  auto req = make_post(t, p.path, p.body.dump());
  co_await http::async_write(s, req, use_awaitable);
  if (drop_after == 0) {  // gone before the first byte of the answer
    drop(s.socket());
    tally.ok(op);
    co_return;
  }
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 << 20);
  s.expires_after(op_timeout);
  co_await http::async_read_header(s, buf, parser, use_awaitable);
  const auto& head = parser.get();
  if (head.result_int() != 200 || !head[http::field::content_type].starts_with("text/event-stream")) {
    co_await http::async_read(s, buf, parser, use_awaitable);
    tally.error(op, status_error(head.result_int(), parser.get().body()));
    co_return;
  }
  size_t scanned = 0;
  int events = 0;
  while (!parser.is_done()) {
    s.expires_after(op_timeout);
    co_await http::async_read_some(s, buf, parser, use_awaitable);
    const std::string& body = parser.get().body();
    for (size_t at; (at = body.find("\n\n", scanned)) != std::string::npos; scanned = at + 2) ++events;
    if (drop_after > 0 && events >= drop_after) {
      drop(s.socket());
      tally.events += events;
      tally.ok(op);
      co_return;
    }
  }
  tally.events += events;
  if (std::string e = check_stream(p.shape, parser.get().body()); !e.empty()) {
    tally.error(op, e);
  } else {
    tally.ok(op);
  }
}

struct ws_generation {
  std::string id;
  int max_tokens = 0;
  int cancel_at = -1;  // cancel after this many tokens (< 0: never)
  bool cancel_sent = false;
  bool done = false;
  std::vector<json> tokens;
};

// Built outside co_await expressions: GCC 12 miscompiles braced JSON temporaries there
// ("array used as initializer").
json cancel_message(const std::string& id) { return {{"type", "cancel"}, {"id", id}}; }

awaitable<void> send_text(websocket::stream<beast::tcp_stream>& ws, const json& j) {
  const std::string text = j.dump();
  co_await ws.async_write(net::buffer(text), use_awaitable);
}

// One WebSocket with 1 to 3 generations at once; some cancelled, some sessions dropped.
awaitable<void> ws_session(const soak_target& t, dice& d, soak_tally& tally) {
  websocket::stream<beast::tcp_stream> ws(co_await connect(t));
  beast::get_lowest_layer(ws).expires_never();
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
  timeouts.idle_timeout = op_timeout;
  timeouts.keep_alive_pings = false;
  ws.set_option(timeouts);
  const std::string key = t.api_key;
  ws.set_option(websocket::stream_base::decorator([key](websocket::request_type& req) {
    if (!key.empty()) req.set(http::field::authorization, "Bearer " + key);
  }));
  co_await ws.async_handshake(t.host + ":" + std::to_string(t.port), "/v1/ws", use_awaitable);
  std::vector<ws_generation> gens(1 + d.below(3));
  for (size_t i = 0; i < gens.size(); ++i) {
    ws_generation& g = gens[i];
    g.id = "g" + std::to_string(i) + "-" + std::to_string(d.draw() % 100000);
    g.max_tokens = 1 + d.below(24);
    if (d.chance(0.3)) g.cancel_at = d.below(4);
    json msg = {{"type", "generate"}, {"id", g.id}, {"prompt", prompts[d.below(std::size(prompts))]},
                {"max_tokens", g.max_tokens}, {"temperature", d.chance(0.5) ? 0.0 : 0.8}};
    co_await send_text(ws, msg);
    if (g.cancel_at == 0) {
      g.cancel_sent = true;
      co_await send_text(ws, cancel_message(g.id));
    }
  }
  const int drop_at = d.chance(0.15) ? 1 + d.below(8) : -1;
  int received = 0;
  auto running = [&] { return std::any_of(gens.begin(), gens.end(), [](const ws_generation& g) { return !g.done; }); };
  while (running()) {
    beast::flat_buffer buf;
    co_await ws.async_read(buf, use_awaitable);
    ++received;
    ++tally.events;
    const json m = json::parse(beast::buffers_to_string(buf.data()), nullptr, false);
    auto g = std::find_if(gens.begin(), gens.end(), [&](const ws_generation& x) {
      return m.is_object() && m["id"].is_string() && x.id == m["id"].get<std::string>();
    });
    const std::string type = m.is_object() ? m.value("type", "") : "";
    if (g == gens.end()) {
      tally.error("ws", "message for no generation of this session: " + m.dump().substr(0, 200));
    } else if (type == "token") {
      g->tokens.push_back(m);
      if (g->cancel_at >= 0 && !g->cancel_sent && static_cast<int>(g->tokens.size()) >= g->cancel_at) {
        g->cancel_sent = true;
        co_await send_text(ws, cancel_message(g->id));
      }
    } else if (type == "queued" && !g->done && g->tokens.empty() && m["position"].is_number_unsigned()) {
      // It waits to start: its place, before any token.
    } else if (type == "done" && !g->done) {
      g->done = true;
      const std::string op = g->cancel_sent ? "ws cancelled" : "ws generation";
      if (std::string e = check_ws_generation(g->tokens, m, g->max_tokens, g->cancel_sent); !e.empty()) {
        tally.error(op, e);
      } else {
        tally.ok(op);
      }
    } else if (type == "error" && g->done && g->cancel_sent && m["error"].value("param", "") == "id") {
      // The cancel crossed the done on the wire: "no generation with id ... is running" is right.
    } else {
      tally.error("ws", "unexpected message: " + m.dump().substr(0, 200));
    }
    if (drop_at > 0 && received >= drop_at) {
      drop(beast::get_lowest_layer(ws).socket());
      tally.ok("ws dropped");
      co_return;
    }
  }
  co_await ws.async_close(websocket::close_code::normal, use_awaitable);
  tally.ok("ws session");
}

// A body no endpoint accepts must get a 400 with an OpenAI error object naming the field.
awaitable<void> bad_request(const soak_target& t, soak_tally& tally) {
  beast::tcp_stream s = co_await connect(t);
  auto req = make_post(t, "/v1/completions", R"({"prompt": "x", "max_tokens": "many"})");
  co_await http::async_write(s, req, use_awaitable);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  co_await http::async_read(s, buf, res, use_awaitable);
  const json j = json::parse(res.body(), nullptr, false);
  if (res.result_int() != 400 || !j.is_object() || !j["error"].is_object() || j["error"].value("param", "") != "max_tokens") {
    tally.error("bad request", status_error(res.result_int(), res.body()));
  } else {
    tally.ok("bad request");
  }
}

}  // namespace

void soak_tally::error(const std::string& op, const std::string& what) {
  ++ops[op].errors;
  if (first_errors.size() < 20) first_errors.push_back(op + ": " + what);
}

int64_t soak_tally::total_errors() const {
  int64_t n = 0;
  for (const auto& [name, c] : ops) n += c.errors;
  return n;
}

awaitable<void> run_client(soak_target target, uint64_t seed, std::chrono::steady_clock::time_point until,
                           soak_tally& tally) {
  dice d(seed);
  while (std::chrono::steady_clock::now() < until) {
    const int pick = d.below(100);
    std::string op = "connection";
    try {
      if (pick < 25) {
        op = "plain";
        co_await plain_requests(target, d, tally);
      } else if (pick < 55) {
        op = "stream";
        co_await streamed_request(target, d, -1, tally);
      } else if (pick < 70) {
        op = "stream dropped";
        co_await streamed_request(target, d, d.below(4), tally);
      } else if (pick < 97) {
        op = "ws";
        co_await ws_session(target, d, tally);
      } else {
        op = "bad request";
        co_await bad_request(target, tally);
      }
    } catch (const std::exception& e) {
      tally.error(op, std::string("network: ") + e.what());
    }
  }
}

std::string http_get(const soak_target& t, const std::string& path) {
  net::io_context ioc;
  beast::tcp_stream s(ioc);
  tcp::resolver resolver(ioc);
  s.connect(resolver.resolve(t.host, std::to_string(t.port)));
  http::request<http::empty_body> req(http::verb::get, path, 11);
  req.set(http::field::host, t.host + ":" + std::to_string(t.port));
  if (!t.api_key.empty()) req.set(http::field::authorization, "Bearer " + t.api_key);
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  if (res.result_int() != 200) throw std::runtime_error("GET " + path + ": " + status_error(res.result_int(), res.body()));
  return res.body();
}

}  // namespace hearth::soak

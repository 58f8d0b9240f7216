// HTTP/1.1 semantics that real clients rely on, over raw loopback sockets: HEAD, HTTP/1.0
// streams, Expect: 100-continue, pipelining, CORS preflights as browsers send them, --host
// localhost. Part of the hostile-client battery ([hostile]).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "raw_client.h"
#include "server_process.h"

using namespace hearth::test;
using json = nlohmann::json;

namespace {

server_process& plain_server() {
  static server_process s;
  return s;
}

const std::string small_generation = R"({"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0})";
const std::string small_stream = R"({"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0, "stream": true})";

// The headers a browser preflight carries for the openai npm package's chat.completions.create.
const std::string sdk_request_headers =
    "authorization,content-type,x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-package-version,"
    "x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout";

bool lists(const std::string& list, const std::string& item) {
  std::string l = list, i = item;
  for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (char& c : i) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t at = 0;
  while ((at = l.find(i, at)) != std::string::npos) {
    const bool starts = at == 0 || l[at - 1] == ',' || l[at - 1] == ' ';
    const bool ends = at + i.size() == l.size() || l[at + i.size()] == ',' || l[at + i.size()] == ' ';
    if (starts && ends) return true;
    at += i.size();
  }
  return false;
}

}  // namespace

TEST_CASE("HEAD acts as GET without a body", "[hostile][http]") {
  auto& s = plain_server();
  for (const char* path : {"/health", "/v1/models", "/", "/metrics"}) {
    INFO(path);
    raw_connection c(s.port());
    c.send(simple_request("GET", path) + simple_request("HEAD", path) + simple_request("GET", "/health"));
    raw_response get = c.read_response();
    raw_response head = c.read_response(10, /*head=*/true);
    REQUIRE(get.status == 200);
    CHECK(head.status == 200);
    CHECK(head.header("content-type") == get.header("content-type"));
    if (std::string(path) != "/metrics") CHECK(head.header("content-length") == std::to_string(get.body.size()));
    // No body followed the HEAD response: the next bytes are the third response.
    CHECK(c.read_response().status == 200);
  }
  raw_connection c(s.port());
  c.send(simple_request("HEAD", "/v1/generate"));
  raw_response r = c.read_response(10, true);
  CHECK(r.status == 405);
  CHECK(r.header("allow") == "POST, OPTIONS");
  c.send(simple_request("POST", "/health", "Content-Length: 0\r\n"));
  raw_response p = c.read_response();
  CHECK(p.status == 405);
  CHECK(p.header("allow") == "GET, HEAD, OPTIONS");
}

TEST_CASE("a stream to an HTTP/1.0 client is not chunked and ends with the connection", "[hostile][http]") {
  auto& s = plain_server();
  raw_connection c(s.port());
  c.send("POST /v1/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(small_stream.size()) + "\r\n\r\n" + small_stream);
  raw_response r = c.read_response(30);
  REQUIRE(r.status == 200);
  CHECK(r.status_line.starts_with("HTTP/1.1 200"));
  CHECK_FALSE(r.has("transfer-encoding"));
  CHECK_FALSE(r.has("content-length"));
  CHECK(r.header("connection") == "close");
  CHECK(r.until_close);
  auto events = sse_payloads(r.body);
  REQUIRE(events.size() >= 2);
  CHECK(events.back() == "[DONE]");
  // The same request over HTTP/1.1 is chunked and keeps the connection.
  raw_connection c11(s.port());
  c11.send(post_request("/v1/completions", small_stream));
  raw_response r11 = c11.read_response(30);
  CHECK(r11.chunked);
  CHECK(sse_payloads(r11.body).size() == events.size());
  c11.send(simple_request("GET", "/health"));
  CHECK(c11.read_response().status == 200);
}

TEST_CASE("Expect: 100-continue is answered before the body is sent", "[hostile][http]") {
  auto& s = plain_server();
  const std::string body = R"({"content":"Once upon a time","add_special":true})";
  SECTION("accepted: 100 Continue, then the final answer") {
    raw_connection c(s.port());
    c.send("POST /v1/tokenize HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n");
    raw_response interim = c.read_response(5);
    REQUIRE(interim.status == 100);
    c.send(body);
    raw_response r = c.read_response();
    CHECK(r.status == 200);
    CHECK(json::parse(r.body)["tokens"] == json::array({1, 403, 407, 261, 378}));
  }
  SECTION("refused by size: 413 at once, no 100, and the connection closes") {
    raw_connection c(s.port());
    c.send("POST /v1/tokenize HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\n\r\n");
    raw_response r = c.read_response(5);
    CHECK(r.status == 413);
    CHECK(r.header("connection") == "close");
    CHECK(c.closed_by_server());
  }
  SECTION("refused by path: 404 at once") {
    raw_connection c(s.port());
    c.send("POST /v1/nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    CHECK(c.read_response(5).status == 404);
    CHECK(c.closed_by_server());
  }
  SECTION("HTTP/1.0 gets no 100 (it predates it)") {
    raw_connection c(s.port());
    c.send("POST /v1/tokenize HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body);
    CHECK(c.read_response().status == 200);
  }
  CHECK(health_ok(s.port()));
}

TEST_CASE("pipelined requests are answered in order", "[hostile][http]") {
  auto& s = plain_server();
  raw_connection c(s.port());
  std::string all;
  for (int i = 0; i < 100; ++i) {
    all += i % 3 == 0   ? simple_request("GET", "/health")
           : i % 3 == 1 ? simple_request("GET", "/nowhere-" + std::to_string(i))
                        : post_request("/v1/tokenize", R"({"content":"a"})");
  }
  c.send(all);
  for (int i = 0; i < 100; ++i) {
    INFO("response " << i);
    raw_response r = c.read_response();
    REQUIRE(r.status == (i % 3 == 0 ? 200 : i % 3 == 1 ? 404 : 200));
    if (i % 3 == 1) CHECK(r.error_message().find("/nowhere-" + std::to_string(i)) != std::string::npos);
  }
  // A generation pipelined behind a generation.
  c.send(post_request("/v1/generate", small_generation) + post_request("/v1/generate", small_stream));
  raw_response whole = c.read_response(30);
  raw_response streamed = c.read_response(30);
  CHECK(whole.status == 200);
  CHECK(streamed.status == 200);
  CHECK(streamed.chunked);
}

TEST_CASE("CORS: the openai SDK's browser preflight passes for an allowed origin only", "[hostile][http]") {
  static server_process s({"--cors-origin", "http://app.example"});
  auto preflight = [&](const std::string& origin, const std::string& headers, const std::string& path) {
    return raw_exchange(s.port(), simple_request("OPTIONS", path,
                                                 "Origin: " + origin + "\r\nAccess-Control-Request-Method: POST\r\n" +
                                                     "Access-Control-Request-Headers: " + headers + "\r\n"));
  };
  SECTION("allowed origin: every requested header is allowed") {
    raw_response r = preflight("http://app.example", sdk_request_headers, "/v1/chat/completions");
    CHECK(r.status == 204);
    CHECK(r.header("access-control-allow-origin") == "http://app.example");
    CHECK(lists(r.header("access-control-allow-methods"), "POST"));
    for (const char* h : {"authorization", "content-type", "x-stainless-os", "x-stainless-timeout",
                          "x-stainless-retry-count"}) {
      INFO(h);
      CHECK(lists(r.header("access-control-allow-headers"), h));
    }
    CHECK(r.header("vary") == "Origin, Access-Control-Request-Headers");
    CHECK_FALSE(r.header("access-control-max-age").empty());
  }
  SECTION("a foreign origin gets no preflight") {
    raw_response r = preflight("http://evil.example", sdk_request_headers, "/v1/chat/completions");
    CHECK(r.status == 403);
    CHECK_FALSE(r.has("access-control-allow-origin"));
  }
  SECTION("a requested header that is not a token is refused") {
    raw_response r = preflight("http://app.example", "x-ok, x bad", "/v1/chat/completions");
    CHECK(r.status == 400);
    CHECK(r.error_message().find("Access-Control-Request-Headers") != std::string::npos);
  }
  SECTION("a preflight for a path that does not exist") {
    CHECK(preflight("http://app.example", "content-type", "/v1/nowhere").status == 404);
  }
  SECTION("the request itself: allowed origin, Vary, and the request id readable by the page") {
    raw_response r = raw_exchange(s.port(), simple_request("GET", "/v1/models", "Origin: http://app.example\r\n"));
    CHECK(r.status == 200);
    CHECK(r.header("access-control-allow-origin") == "http://app.example");
    CHECK(r.header("vary") == "Origin");
    CHECK(lists(r.header("access-control-expose-headers"), "x-request-id"));
  }
  CHECK(health_ok(s.port()));
}

TEST_CASE("host localhost: the server listens on the loopback addresses", "[hostile][http]") {
  server_process s({"--host", "localhost"});
  CHECK(health_ok(s.port()));
  // ::1 too, where the machine has IPv6 loopback.
  int fd6 = socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 a6{};
  a6.sin6_family = AF_INET6;
  a6.sin6_port = htons(static_cast<uint16_t>(s.port()));
  a6.sin6_addr = in6addr_loopback;
  int probe = socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 any6 = a6;
  any6.sin6_port = 0;
  const bool have_v6 = probe >= 0 && bind(probe, reinterpret_cast<sockaddr*>(&any6), sizeof any6) == 0;
  if (probe >= 0) close(probe);
  if (have_v6) {
    CHECK(connect(fd6, reinterpret_cast<sockaddr*>(&a6), sizeof a6) == 0);
  } else {
    WARN("no IPv6 loopback on this machine: only 127.0.0.1 checked");
  }
  if (fd6 >= 0) close(fd6);
  CHECK(s.terminate() == 0);
}

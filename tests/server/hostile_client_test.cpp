// The hostile-client battery: exact bytes on raw loopback sockets, each case asserting the exact
// status, whether the server keeps or closes the connection, and that the server still serves
// afterwards (GET /health on the same connection when it stays open, and on a fresh one).
//
// One server per group (one TEST_CASE each; every case is a section), so CI starts a handful of
// servers for the whole battery.
//
// The status rules the cases pin down (RFC 9110/9112):
// - A request head that cannot be framed reliably (syntax, Transfer-Encoding, Content-Length,
//   Host) is answered 400 (414/431/505/501 where those say more) and the connection is closed.
// - A well-framed request refused before its body is read (unknown path 404, method 405/501,
//   Expect 417, key 401, origin/Host 403, Content-Length over the limit 413) keeps the
//   connection when it has no body, and closes it when it has one (the body is not read).
// - A request read in full and refused by its handler (bad JSON: 400) keeps the connection.
#include <catch2/catch.hpp>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "raw_client.h"
#include "server_process.h"

using namespace hearth::test;
using json = nlohmann::json;

namespace {

enum class then { keeps, closes };

struct wire_case {
  std::string name;
  std::string bytes;         // what the client sends
  int status;                // the exact status of the (final) response
  then after;                // what happens to the connection after it
  std::string message_part;  // part of the error message ("" = not checked)
  bool shut_write = false;   // half-close after sending (a truncated request)
};

std::string with_body(std::string_view head_without_blank_line, std::string_view body) {
  std::string s(head_without_blank_line);
  s += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  s.append(body);
  return s;
}

std::string chunked_post(std::string_view target, std::string_view te, std::string_view chunked_body) {
  std::string s = "POST ";
  s.append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n");
  s.append("Transfer-Encoding: ").append(te).append("\r\n\r\n").append(chunked_body);
  return s;
}

const std::string tokenize_body = R"({"content":"Once upon a time"})";
const std::string tokenize_length = std::to_string(tokenize_body.size());

// One chunk of a chunked body: hex size, extension, data.
std::string chunk(std::string_view data, std::string_view extension = "") {
  char size[32];
  std::snprintf(size, sizeof size, "%zx", data.size());
  std::string s = size;
  s.append(extension).append("\r\n").append(data).append("\r\n");
  return s;
}

void run_case(int port, const wire_case& c) {
  raw_connection conn(port);
  conn.send(c.bytes);
  if (c.shut_write) conn.shut_write();
  raw_response r = conn.read_final_response();
  INFO("response: " << r.status_line << "\n" << r.body);
  REQUIRE(r.status == c.status);
  CHECK_FALSE(r.header("x-request-id").empty());
  if (c.status >= 400) {
    const std::string message = r.error_message();
    CHECK_FALSE(message.empty());
    if (!c.message_part.empty()) CHECK(message.find(c.message_part) != std::string::npos);
  }
  if (c.after == then::closes) {
    CHECK(r.header("connection") == "close");
    CHECK(conn.closed_by_server());
  } else if (!c.shut_write) {
    CHECK(r.header("connection") != "close");
    CHECK(conn.pending().empty());
    conn.send(simple_request("GET", "/health"));
    CHECK(conn.read_response().status == 200);
  }
  CHECK(health_ok(port));
}

void run_group(int port, const std::vector<wire_case>& cases) {
  for (const wire_case& c : cases) {
    DYNAMIC_SECTION(c.name) { run_case(port, c); }
  }
}

std::string target_of(size_t n) { return "/" + std::string(n - 1, 'a'); }

std::string many_fields(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "X-Field-" + std::to_string(i) + ": v\r\n";
  return s;
}

}  // namespace

TEST_CASE("hostile: request lines and targets", "[hostile][http]") {
  static server_process s;
  const std::string port = std::to_string(s.port());
  const std::string host = "Host: 127.0.0.1:" + port + "\r\n";
  run_group(s.port(), {
      {"garbage instead of a request line", "GARBAGE\r\n\r\n", 400, then::closes, ""},
      {"a lower-case method is an unknown method", simple_request("get", "/health"), 501, then::keeps, "get"},
      {"an unknown method", simple_request("BREW", "/health"), 501, then::keeps, "BREW"},
      {"a separator inside the method", simple_request("GE(T", "/health"), 400, then::closes, ""},
      {"no HTTP version (HTTP/0.9 style)", "GET /health\r\n\r\n", 400, then::closes, ""},
      {"HTTP/2.0 in an HTTP/1 request line", simple_request("GET", "/health", "", "HTTP/2.0"), 505, then::closes, "HTTP/2.0"},
      {"HTTP/0.9 version", simple_request("GET", "/health", "", "HTTP/0.9"), 505, then::closes, ""},
      {"HTTP/1.2 is served as HTTP/1.1", simple_request("GET", "/health", "", "HTTP/1.2"), 200, then::keeps, ""},
      {"the version in lower case", simple_request("GET", "/health", "", "http/1.1"), 400, then::closes, ""},
      {"two spaces after the method", "GET  /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, then::closes, ""},
      {"a tab as separator", "GET\t/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, then::closes, ""},
      {"a control byte in the target", simple_request("GET", "/hea\x01lth"), 400, then::closes, ""},
      {"a byte above 0x7f in the target", simple_request("GET", "/heal\xfftth"), 400, then::closes, ""},
      {"a target of 9,000 bytes", simple_request("GET", target_of(9000)), 414, then::closes, "8192"},
      {"a target longer than the whole header limit", simple_request("GET", target_of(70000)), 414, then::closes, ""},
      {"a target of 4,000 bytes is only unknown", simple_request("GET", target_of(4000)), 404, then::keeps, ""},
      {"OPTIONS * asks about the server", simple_request("OPTIONS", "*"), 204, then::keeps, ""},
      {"GET * is not a valid target", simple_request("GET", "*"), 400, then::keeps, "*"},
      {"an absolute-form target", "GET http://127.0.0.1:" + port + "/health HTTP/1.1\r\n" + host + "\r\n", 200,
       then::keeps, ""},
      {"an absolute-form target naming another host", simple_request("GET", "http://evil.example/health"), 403,
       then::keeps, "evil.example"},
      {"an absolute-form target with another scheme", simple_request("GET", "ftp://127.0.0.1/health"), 400,
       then::keeps, "ftp"},
      {"an authority-form target outside CONNECT", simple_request("GET", "127.0.0.1:80"), 400, then::keeps, ""},
      {"CONNECT: not a proxy", simple_request("CONNECT", "127.0.0.1:80"), 501, then::keeps, "CONNECT"},
      {"TRACE", simple_request("TRACE", "/health"), 501, then::keeps, "TRACE"},
      {"PUT on a POST endpoint", simple_request("PUT", "/v1/generate", "Content-Length: 0\r\n"), 501, then::keeps, "PUT"},
      {"DELETE", simple_request("DELETE", "/v1/models"), 501, then::keeps, "DELETE"},
      {"POST on a GET endpoint", simple_request("POST", "/health", "Content-Length: 0\r\n"), 405, then::keeps, "POST"},
      {"GET on a POST endpoint", simple_request("GET", "/v1/completions"), 405, then::keeps, "GET"},
      {"a fragment in the target", simple_request("GET", "/health#top"), 400, then::keeps, "#"},
      {"a percent-encoded path is decoded", simple_request("GET", "/%68ealth"), 200, then::keeps, ""},
      {"a malformed percent escape", simple_request("GET", "/health%zz"), 400, then::keeps, "%"},
      {"a truncated percent escape", simple_request("GET", "/health%4"), 400, then::keeps, "%"},
      {"a percent-encoded NUL", simple_request("GET", "/health%00"), 400, then::keeps, "%"},
      {"dot segments do not climb", simple_request("GET", "/v1/../health"), 404, then::keeps, ""},
      {"a traversal-looking target", simple_request("GET", "/../../etc/passwd"), 404, then::keeps, ""},
      {"a query string does not change the route", simple_request("GET", "/health?probe=1&x"), 200, then::keeps, ""},
      {"a relative target", simple_request("GET", "health"), 400, then::keeps, ""},
      {"empty lines before the request line are skipped", "\r\n\r\n" + simple_request("GET", "/health"), 200,
       then::keeps, ""},
      {"a request smuggled inside a body stays a body",
       with_body("POST /v1/tokenize HTTP/1.1\r\nHost: 127.0.0.1\r\n", "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"), 400,
       then::keeps, "malformed JSON"},
  });
}

TEST_CASE("hostile: header fields", "[hostile][http]") {
  static server_process s;
  const std::string get = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  run_group(s.port(), {
      {"obsolete line folding", get + "X-Folded: a\r\n b\r\n\r\n", 400, then::closes, "fold"},
      {"whitespace before the colon", get + "X-Name : v\r\n\r\n", 400, then::closes, ""},
      {"a NUL in a value", get + std::string("X-Name: a\0b\r\n\r\n", 15), 400, then::closes, ""},
      {"a control byte in a value", get + "X-Name: a\x01" "b\r\n\r\n", 400, then::closes, ""},
      {"DEL in a value", get + "X-Name: a\x7f" "b\r\n\r\n", 400, then::closes, ""},
      {"bare LF line ends", "GET /health HTTP/1.1\nHost: 127.0.0.1\n\n", 400, then::closes, ""},
      {"a bare CR inside a value", get + "X-Name: a\rb\r\n\r\n", 400, then::closes, ""},
      {"a separator in a field name", get + "X[Name]: v\r\n\r\n", 400, then::closes, ""},
      {"an empty field name", get + ": v\r\n\r\n", 400, then::closes, ""},
      {"a field line without a colon", get + "NoColonHere\r\n\r\n", 400, then::closes, ""},
      {"one field of 70,000 bytes", get + "X-Big: " + std::string(70000, 'a') + "\r\n\r\n", 431, then::closes, ""},
      {"101 fields", get + many_fields(100) + "\r\n", 431, then::closes, "100"},
      {"100 fields are fine", get + many_fields(99) + "\r\n", 200, then::keeps, ""},
      {"UTF-8 (obs-text) in a value is fine", get + "X-Name: caf\xc3\xa9\r\n\r\n", 200, then::keeps, ""},
      {"HTTP/1.1 without Host", "GET /health HTTP/1.1\r\n\r\n", 400, then::closes, "Host"},
      {"two Host fields", get + "Host: 127.0.0.1\r\n\r\n", 400, then::closes, "Host"},
      {"an invalid Host value", "GET /health HTTP/1.1\r\nHost: 127.0.0.1 evil\r\n\r\n", 400, then::closes, "Host"},
      {"a Host with user info", "GET /health HTTP/1.1\r\nHost: user@127.0.0.1\r\n\r\n", 400, then::closes, "Host"},
      {"Host names are case-insensitive", "GET /health HTTP/1.1\r\nHost: LOCALHOST\r\n\r\n", 200, then::keeps, ""},
      {"Host with a port, mixed case", "GET /health HTTP/1.1\r\nHost: LocalHost:80\r\n\r\n", 200, then::keeps, ""},
      {"HTTP/1.0 without Host", "GET /health HTTP/1.0\r\n\r\n", 200, then::closes, ""},
      {"HTTP/1.0 asking for keep-alive", "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, then::keeps, ""},
      {"Connection: close", get + "Connection: close\r\n\r\n", 200, then::closes, ""},
      {"an unknown expectation", get + "Expect: teapot\r\n\r\n", 417, then::keeps, "teapot"},
      {"TE (the codings a client accepts in answers) is only a preference", get + "TE: gzip, chunked\r\n\r\n", 200,
       then::keeps, ""},
      {"an Upgrade the server does not speak is ignored", get + "Connection: upgrade\r\nUpgrade: h2c\r\n\r\n", 200,
       then::keeps, ""},
  });
}

TEST_CASE("hostile: message framing and request smuggling", "[hostile][http]") {
  static server_process s;
  const std::string post = "POST /v1/tokenize HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  const std::string chunked_ok = chunk(tokenize_body) + "0\r\n\r\n";
  const std::string cl = "Content-Length: " + tokenize_length + "\r\n";
  run_group(s.port(), {
      {"Transfer-Encoding: chunked, identity", chunked_post("/v1/tokenize", "chunked, identity", chunked_ok), 400,
       then::closes, "chunked"},
      {"Transfer-Encoding: xchunked", chunked_post("/v1/tokenize", "xchunked", chunked_ok), 400, then::closes, "chunked"},
      {"Transfer-Encoding: identity", chunked_post("/v1/tokenize", "identity", tokenize_body), 400, then::closes, ""},
      {"Transfer-Encoding: gzip, chunked", chunked_post("/v1/tokenize", "gzip, chunked", chunked_ok), 501,
       then::closes, "gzip"},
      {"Transfer-Encoding: chunked, chunked", chunked_post("/v1/tokenize", "chunked, chunked", chunked_ok), 400,
       then::closes, ""},
      {"two Transfer-Encoding fields", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_ok,
       400, then::closes, ""},
      {"Transfer-Encoding and Content-Length",
       post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" + chunked_ok, 400, then::closes, "Content-Length"},
      {"Content-Length and Transfer-Encoding",
       post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_ok, 400, then::closes, "Content-Length"},
      {"Transfer-Encoding in HTTP/1.0",
       "POST /v1/tokenize HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked_ok, 400, then::closes, "HTTP/1.0"},
      {"Content-Length twice, same value", post + cl + cl + "\r\n" + tokenize_body, 400,
       then::closes, "Content-Length"},
      {"Content-Length twice, different values", post + cl + "Content-Length: 5\r\n\r\n" + tokenize_body,
       400, then::closes, "Content-Length"},
      {"Content-Length as a list", post + "Content-Length: " + tokenize_length + ", " + tokenize_length + "\r\n\r\n" + tokenize_body, 400, then::closes,
       "Content-Length"},
      {"a negative Content-Length", post + "Content-Length: -5\r\n\r\n", 400, then::closes, "Content-Length"},
      {"a Content-Length with a plus sign", post + "Content-Length: +" + tokenize_length + "\r\n\r\n" + tokenize_body, 400, then::closes,
       "Content-Length"},
      {"a Content-Length that is not a number", post + "Content-Length: 3l\r\n\r\n", 400, then::closes, "Content-Length"},
      {"a Content-Length beyond 64 bits", post + "Content-Length: 99999999999999999999999\r\n\r\n", 400, then::closes,
       "Content-Length"},
      {"a Content-Length over the body limit", post + "Content-Length: 1099511627776\r\n\r\n", 413, then::closes, "limit"},
      {"chunked in capitals is still chunked", chunked_post("/v1/tokenize", "Chunked", chunked_ok), 200, then::keeps, ""},
      {"a chunk extension", chunked_post("/v1/tokenize", "chunked", chunk(tokenize_body, ";name=value") + "0\r\n\r\n"),
       200, then::keeps, ""},
      {"a trailer section", chunked_post("/v1/tokenize", "chunked", chunk(tokenize_body) + "0\r\nX-Trailer: t\r\n\r\n"),
       200, then::keeps, ""},
      {"a chunk size beyond 64 bits", chunked_post("/v1/tokenize", "chunked", "fffffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
       400, then::closes, ""},
      {"a chunk size that is not hexadecimal", chunked_post("/v1/tokenize", "chunked", "zz\r\nabc\r\n0\r\n\r\n"), 400,
       then::closes, ""},
      {"a chunk extension of 100,000 bytes",
       chunked_post("/v1/tokenize", "chunked", chunk(tokenize_body, ";x=" + std::string(100000, 'a')) + "0\r\n\r\n"),
       400, then::closes, ""},
      {"chunks adding up past the body limit",
       chunked_post("/v1/tokenize", "chunked", "100000\r\n" + std::string(0x100000, 'a') + "\r\n10\r\n" +
                                                    std::string(16, 'a') + "\r\n0\r\n\r\n"),
       413, then::closes, "limit"},
      {"a chunked body cut short, then a half-close", chunked_post("/v1/tokenize", "chunked", "1e\r\n{\"content\""), 400,
       then::closes, "incomplete", true},
      {"a body shorter than its Content-Length, then a half-close", post + cl + "\r\n{\"con", 400,
       then::closes, "incomplete", true},
      {"a head cut short, then a half-close", "GET /health HTTP/1.1\r\nHost: 12", 400, then::closes, "incomplete", true},
      {"a GET with a body: the body is read and ignored", with_body("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n", "12345"),
       200, then::keeps, ""},
  });
}

TEST_CASE("hostile: bodies and JSON", "[hostile][http]") {
  static server_process s;
  auto gen = [](const std::string& body) { return post_request("/v1/generate", body); };
  auto cmp = [](const std::string& body) { return post_request("/v1/completions", body); };
  auto chat = [](const std::string& body) { return post_request("/v1/chat/completions", body); };
  const std::string deep_arrays = R"({"prompt":"x","extra":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  std::string deep_objects = R"({"prompt":"x","a":)";
  for (int i = 0; i < 70; ++i) deep_objects += R"({"a":)";
  deep_objects += "1" + std::string(71, '}');
  run_group(s.port(), {
      {"malformed JSON", gen(R"({"prompt": "x", )"), 400, then::keeps, "malformed JSON"},
      {"an empty body", gen(""), 400, then::keeps, "malformed JSON"},
      {"a JSON array", gen(R"(["prompt"])"), 400, then::keeps, "object"},
      {"invalid UTF-8 in a string", gen("{\"prompt\": \"\xc3\x28\"}"), 400, then::keeps, "UTF-8"},
      {"an overlong UTF-8 encoding", gen("{\"prompt\": \"\xc0\xaf\"}"), 400, then::keeps, "UTF-8"},
      {"a UTF-16 surrogate escape alone", gen(R"({"prompt": "\ud800"})"), 400, then::keeps, "malformed JSON"},
      {"arrays nested 100,000 deep", gen(deep_arrays), 400, then::keeps, "deeper"},
      {"objects nested 71 deep", gen(deep_objects), 400, then::keeps, "deeper"},
      {"a number too large for a double", gen(R"({"prompt": "x", "max_tokens": 1e999})"), 400, then::keeps, ""},
      {"a negative max_tokens", gen(R"({"prompt": "x", "max_tokens": -1})"), 400, then::keeps, "max_tokens"},
      {"max_tokens beyond 32 bits", gen(R"({"prompt": "x", "max_tokens": 1e30})"), 400, then::keeps, "max_tokens"},
      {"NaN is not JSON", gen(R"({"prompt": "x", "temperature": NaN})"), 400, then::keeps, "malformed JSON"},
      {"unknown fields are ignored", gen(R"({"prompt": "x", "max_tokens": 1, "frobnicate": [1, {"a": null}]})"), 200,
       then::keeps, ""},
      {"a text/plain body is still read as JSON",
       with_body("POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n",
                 R"({"prompt": "x", "max_tokens": 1})"),
       200, then::keeps, ""},
      {"prompt: an object", gen(R"({"prompt": {"a": 1}})"), 400, then::keeps, "prompt"},
      {"tokens: strings", gen(R"({"tokens": ["a"]})"), 400, then::keeps, "tokens"},
      {"tokens: an id beyond the vocabulary", gen(R"({"tokens": [1, 99999]})"), 400, then::keeps, "tokens"},
      {"max_tokens: a string", gen(R"({"prompt": "x", "max_tokens": "5"})"), 400, then::keeps, "max_tokens"},
      {"temperature: a string", cmp(R"({"prompt": "x", "temperature": "hot"})"), 400, then::keeps, "temperature"},
      {"top_p: a boolean", cmp(R"({"prompt": "x", "top_p": true})"), 400, then::keeps, "top_p"},
      {"top_k: a fraction", gen(R"({"prompt": "x", "top_k": 1.5})"), 400, then::keeps, "top_k"},
      {"seed: a string", gen(R"({"prompt": "x", "seed": "7"})"), 400, then::keeps, "seed"},
      {"stream: a string", cmp(R"({"prompt": "x", "stream": "yes"})"), 400, then::keeps, "stream"},
      {"stop: a number", cmp(R"({"prompt": "x", "stop": 5})"), 400, then::keeps, "stop"},
      {"stream_options: a string", cmp(R"({"prompt": "x", "stream": true, "stream_options": "x"})"), 400, then::keeps,
       "stream_options"},
      {"messages: an object", chat(R"({"messages": {"role": "user"}})"), 400, then::keeps, "messages"},
      {"a message without a role", chat(R"({"messages": [{"content": "hi"}]})"), 400, then::keeps, "role"},
      {"message content: a number", chat(R"({"messages": [{"role": "user", "content": 5}]})"), 400, then::keeps,
       "content"},
      {"tokenize without content", post_request("/v1/tokenize", "{}"), 400, then::keeps, "content"},
      {"detokenize: a negative id", post_request("/v1/detokenize", R"({"tokens": [-1]})"), 400, then::keeps, "tokens"},
      {"a body over the limit", gen(R"({"prompt": ")" + std::string(1 << 20, 'a') + "\"}"), 413, then::closes, "limit"},
  });
}

TEST_CASE("hostile: WebSocket handshakes", "[hostile][ws]") {
  static server_process s;
  const std::string key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  const std::string upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\n";
  const std::string v13 = "Sec-WebSocket-Version: 13\r\n";
  run_group(s.port(), {
      {"an upgrade on another path", simple_request("GET", "/health", upgrade + key + v13), 404, then::closes, "/health"},
      {"WebSocket version 8", simple_request("GET", "/v1/ws", upgrade + key + "Sec-WebSocket-Version: 8\r\n"), 426,
       then::closes, "13"},
      {"no Sec-WebSocket-Key", simple_request("GET", "/v1/ws", upgrade + v13), 400, then::closes, "Sec-WebSocket-Key"},
      {"a key that is not 16 bytes in base64", simple_request("GET", "/v1/ws", upgrade + "Sec-WebSocket-Key: abc\r\n" + v13),
       400, then::closes, "Sec-WebSocket-Key"},
      {"an upgrade carrying a body", simple_request("GET", "/v1/ws", upgrade + key + v13 + "Content-Length: 3\r\n") + "abc",
       400, then::closes, "body"},
      {"an upgrade by POST is no upgrade", simple_request("POST", "/v1/ws", upgrade + key + v13 + "Content-Length: 0\r\n"),
       405, then::keeps, "POST"},
      {"GET /v1/ws without an upgrade", simple_request("GET", "/v1/ws"), 400, then::keeps, "WebSocket"},
      {"an upgrade to another protocol on /v1/ws", simple_request("GET", "/v1/ws", "Connection: Upgrade\r\nUpgrade: h2c\r\n"),
       400, then::keeps, "WebSocket"},
  });
  SECTION("a valid upgrade is switched, and the socket then speaks WebSocket") {
    raw_connection c(s.port());
    c.send(simple_request("GET", "/v1/ws", upgrade + key + v13));
    raw_response r = c.read_response();
    CHECK(r.status == 101);
    CHECK(r.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(health_ok(s.port()));
  }
}

TEST_CASE("hostile: API keys (Bearer is case-insensitive, 401 says WWW-Authenticate)", "[hostile][http]") {
  static server_process s({"--api-key", "sesame"});
  auto models = [](const std::string& auth) { return simple_request("GET", "/v1/models", auth); };
  run_group(s.port(), {
      {"no key", models(""), 401, then::keeps, "API key"},
      {"a wrong key", models("Authorization: Bearer nope\r\n"), 401, then::keeps, "API key"},
      {"another scheme", models("Authorization: Basic c2VzYW1l\r\n"), 401, then::keeps, "Bearer"},
      {"the scheme alone", models("Authorization: Bearer\r\n"), 401, then::keeps, "API key"},
      {"bearer in lower case", models("Authorization: bearer sesame\r\n"), 200, then::keeps, ""},
      {"BEARER in capitals", models("Authorization: BEARER sesame\r\n"), 200, then::keeps, ""},
      {"several spaces after the scheme", models("Authorization: Bearer   sesame\r\n"), 200, then::keeps, ""},
      {"no key, Expect: 100-continue: refused before the body",
       "POST /v1/tokenize HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Length: 30\r\n\r\n", 401,
       then::closes, "API key"},
  });
  SECTION("a 401 names the scheme and the error in WWW-Authenticate") {
    raw_response missing = raw_exchange(s.port(), models(""));
    CHECK(missing.header("www-authenticate") == "Bearer realm=\"hearth\"");
    raw_response wrong = raw_exchange(s.port(), models("Authorization: Bearer nope\r\n"));
    CHECK(wrong.header("www-authenticate") == "Bearer realm=\"hearth\", error=\"invalid_token\"");
  }
}

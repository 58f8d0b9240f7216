// The strict head reader (server/http_head) on its own: a head found the same however it is
// split, and the RFC 9112 framing rules on parsed fields. The hostile-client battery covers the
// same rules over sockets; these cases pin the pure functions.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "http_head.h"

using namespace hearth;

namespace {

head_boundary feed_in_pieces(const std::string& bytes, std::mt19937& rng) {
  head_finder f;
  head_boundary b;
  for (size_t n = 0; n < bytes.size();) {
    n = std::min(bytes.size(), n + 1 + rng() % 7);
    b = f.next(std::string_view(bytes).substr(0, n));
    if (b.state != head_boundary::need_more) return b;
  }
  return b;
}

head_fields fields_of(const std::string& head) {
  auto r = check_head_syntax(head);
  REQUIRE(std::holds_alternative<head_fields>(r));
  return std::get<head_fields>(r);
}

int framing_status(const std::string& head) {
  auto refusal = check_framing(fields_of(head));
  return refusal ? refusal->status : 0;
}

}  // namespace

TEST_CASE("http head: the end of a head is found the same however the bytes arrive", "[http][head]") {
  std::mt19937 rng(11);
  const std::string head = "\r\nPOST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n";
  const std::string bytes = head + "{}GET / HTTP/1.1\r\n";
  for (int i = 0; i < 200; ++i) {
    head_boundary b = feed_in_pieces(bytes, rng);
    REQUIRE(b.state == head_boundary::complete);
    CHECK(b.skip == 2);
    CHECK(b.end == head.size());
  }
  head_finder whole;
  CHECK(whole.next(bytes).end == head.size());
}

TEST_CASE("http head: bare line ends and oversized heads are refused as they arrive", "[http][head]") {
  std::mt19937 rng(12);
  auto status_of = [&](const std::string& bytes) { return feed_in_pieces(bytes, rng).refusal.status; };
  CHECK(feed_in_pieces("GET / HTTP/1.1\nHost: x\n\n", rng).state == head_boundary::refused);
  CHECK(status_of("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n") == 400);
  CHECK(status_of("GET /" + std::string(max_target_bytes + 2000, 'a')) == 414);
  CHECK(status_of("GET / HTTP/1.1\r\nX: " + std::string(max_head_bytes, 'a')) == 431);
  CHECK(feed_in_pieces("GET / HTTP/1.1\r\nX: " + std::string(1000, 'a'), rng).state == head_boundary::need_more);
}

TEST_CASE("http head: framing follows RFC 9112", "[http][head]") {
  const std::string line = "POST / HTTP/1.1\r\nHost: h\r\n";
  CHECK(framing_status(line + "Content-Length: 5\r\n\r\n") == 0);
  CHECK(framing_status(line + "Transfer-Encoding: chunked\r\n\r\n") == 0);
  CHECK(framing_status(line + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n") == 501);
  CHECK(framing_status(line + "Transfer-Encoding: chunked, identity\r\n\r\n") == 400);
  CHECK(framing_status(line + "Transfer-Encoding: chunked;q=1\r\n\r\n") == 400);
  CHECK(framing_status(line + "Transfer-Encoding: ,\r\n\r\n") == 400);
  CHECK(framing_status(line + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
  CHECK(framing_status(line + "Content-Length: 18446744073709551616\r\n\r\n") == 400);
  CHECK(framing_status(line + "Content-Length: 18446744073709551615\r\n\r\n") == 0);
  CHECK(framing_status("GET / HTTP/1.0\r\n\r\n") == 0);
  CHECK(framing_status("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n") == 400);
  CHECK(framing_status("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n") == 0);
  CHECK(framing_status("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n") == 400);
  CHECK(framing_status("GET / HTTP/1.1\r\nHost: h:80x\r\n\r\n") == 400);
}

TEST_CASE("http head: request-targets", "[http][head]") {
  auto target = [](std::string_view t) { return std::get<request_target>(parse_target(t)); };
  CHECK(target("/a%20b?x=%zz").path == "/a b");  // the query is not decoded
  CHECK(target("/a%20b?x").raw_path == "/a%20b");
  CHECK(target("HTTP://Host:1").path == "/");
  CHECK(target("http://host:1?q").authority == "host:1");
  CHECK(target("*").asterisk);
  for (std::string_view bad : {"/%", "/%4", "/%0a", "/%7F", "http://", "http://u@h/", "mailto:x", "a/b", "/#f"}) {
    INFO(bad);
    CHECK(std::holds_alternative<head_refusal>(parse_target(bad)));
  }
}

// /v1/ws against hostile and unlucky clients: one that floods messages and never reads, and
// the daemon stopping under open sockets.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "sanitizers.h"
#include "server_process.h"
#include "ws_client.h"

using namespace hearth::test;
using json = nlohmann::json;

namespace {


// How far the server's RSS may grow while one client floods it. Sanitizers hold freed memory
// (ASan's quarantine, 256 MiB by default) or shadow it, so their builds get room for that.
#if defined(HEARTH_ASAN)
constexpr long rss_growth_bound_kib = (64 + 256) * 1024;
#elif defined(HEARTH_TSAN)
constexpr long rss_growth_bound_kib = 5 * 64 * 1024;
#else
constexpr long rss_growth_bound_kib = 64 * 1024;
#endif

// A client frame (masked, with a zero key: the payload goes as it is).
std::string client_frame(const std::string& payload) {
  std::string f(1, static_cast<char>(0x81));  // FIN, text
  if (payload.size() < 126) {
    f += static_cast<char>(0x80 | payload.size());
  } else {
    REQUIRE(payload.size() < 65536);
    f += static_cast<char>(0x80 | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xff);
  }
  f += std::string(4, '\0');
  return f + payload;
}

// A WebSocket client on a plain socket that writes without ever reading, and never blocks: a
// server that stops reading it cannot stall the test.
class flooding_client {
 public:
  explicit flooding_client(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    const std::string hello = "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    REQUIRE(write(fd_, hello.data(), hello.size()) == static_cast<ssize_t>(hello.size()));
    std::string answer;
    char c;
    while (answer.find("\r\n\r\n") == std::string::npos && read(fd_, &c, 1) == 1) answer += c;
    REQUIRE(answer.starts_with("HTTP/1.1 101"));
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~flooding_client() { close(fd_); }
  flooding_client(const flooding_client&) = delete;
  flooding_client& operator=(const flooding_client&) = delete;

  // Writes `bytes` over and over for up to `ms` milliseconds; returns how many bytes went out.
  size_t flood(const std::string& bytes, int ms) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    size_t sent = 0;
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      const ssize_t n = send(fd_, bytes.data() + offset_, bytes.size() - offset_, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n <= 0) continue;
      sent += static_cast<size_t>(n);
      offset_ = (offset_ + static_cast<size_t>(n)) % bytes.size();
    }
    return sent;
  }

 private:
  int fd_ = -1;
  size_t offset_ = 0;
};

json generate_over_ws(int port, const std::string& prompt, int max_tokens) {
  ws_client c(port);
  c.send({{"type", "generate"}, {"id", "g"}, {"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}});
  json m;
  do m = c.recv(); while (m["type"] == "token");
  return m;
}

}  // namespace

TEST_CASE("ws: a client flooding messages without reading cannot grow the server, which serves others", "[ws]") {
  server_process s;
  const long before = s.rss_kib();
  REQUIRE(before > 0);
  // Each cancel names no running generation and earns an error reply: 64 frames per write.
  std::string burst;
  const std::string frame = client_frame(json{{"type", "cancel"}, {"id", std::string(256, 'x')}}.dump());
  for (int i = 0; i < 64; ++i) burst += frame;

  std::optional<flooding_client> flood(std::in_place, s.port());
  long peak = before;
  size_t sent = 0;
  std::future<json> other;
  for (int slice = 0; slice < 40; ++slice) {  // 40 slices of 100 ms
    sent += flood->flood(burst, 100);
    peak = std::max(peak, s.rss_kib());
    if (slice == 10) other = std::async(std::launch::async, [&s] { return generate_over_ws(s.port(), "Once upon a time", 16); });
  }
  INFO("RSS " << before << " KiB before, " << peak << " KiB at most while " << sent << " bytes were sent");
  CHECK(peak - before < rss_growth_bound_kib);
  // The server stopped reading: what the client could send is bounded by socket buffers and
  // the session's outbox, not by time.
  CHECK(sent < size_t{64} << 20);
  // Meanwhile another client was served.
  const json done = other.get();
  CHECK(done["type"] == "done");
  CHECK(done["usage"]["completion_tokens"] == 16);
  // Still serving, and within the bound, once the flooding client is gone.
  flood.reset();
  CHECK(curl_json(s.url("/v1/generate"), R"({"prompt": "Hello", "max_tokens": 4})").status == 200);
  CHECK(s.rss_kib() - before < rss_growth_bound_kib);
  CHECK(s.terminate() == 0);
}

TEST_CASE("ws: SIGTERM ends generations with server_shutting_down, then a Close frame 1001", "[ws]") {
  server_process s({"-m", slow_model});
  ws_client busy(s.port()), idle(s.port());
  busy.send({{"type", "generate"}, {"id", "long"}, {"prompt", "Hello"}, {"max_tokens", 1000}});
  REQUIRE(busy.recv()["type"] == "token");
  s.signal_term();
  std::vector<json> got;
  CHECK(busy.read_until_close(got) == 1001);
  CHECK(busy.close_reason() == "the server is shutting down");
  REQUIRE_FALSE(got.empty());
  const json& last = got.back();
  INFO(last.dump());
  CHECK(last["type"] == "error");
  CHECK(last["id"] == "long");
  CHECK(last["error"]["code"] == "server_shutting_down");
  for (size_t i = 0; i + 1 < got.size(); ++i) CHECK(got[i]["type"] == "token");
  std::vector<json> none;
  CHECK(idle.read_until_close(none) == 1001);
  CHECK(none.empty());
  CHECK(s.wait_exit() == 0);
}

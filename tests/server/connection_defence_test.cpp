// Connections that cost the server: file descriptors running out, too many connections (in
// total and per client address), requests that arrive too slowly, and clients that half-close.
// Part of the hostile-client battery ([hostile]).
#include <catch2/catch.hpp>

#include <dirent.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "raw_client.h"
#include "server_process.h"

using namespace hearth::test;
using json = nlohmann::json;

namespace {


int open_fds(pid_t pid) {
  int n = 0;
  if (DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// User plus system CPU time of a process, in seconds (/proc/PID/stat fields 14 and 15).
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
  std::string f;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoll(f);
    if (i == 15) stime = std::stoll(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

void check_refused(raw_connection& c, const std::string& message_part) {
  c.send(simple_request("GET", "/health"));
  raw_response r = c.read_response();
  INFO(r.status_line << "\n" << r.body);
  CHECK(r.status == 503);
  CHECK(r.header("connection") == "close");
  CHECK(r.error_message().find(message_part) != std::string::npos);
  CHECK(c.closed_by_server());
}

// n connections, each served one /health. The start-up probe's connection holds a slot until the
// server sees it close (under load, possibly after these connect): retried until all are served.
std::vector<std::unique_ptr<raw_connection>> served_connections(int port, int n) {
  std::vector<std::unique_ptr<raw_connection>> held;
  REQUIRE(poll_until([&] {
    held.clear();
    for (int i = 0; i < n; ++i) {
      held.push_back(std::make_unique<raw_connection>(port));
      held.back()->send(simple_request("GET", "/health"));
      if (held.back()->read_response().status != 200) return false;
    }
    return true;
  }, 10));
  return held;
}

}  // namespace

TEST_CASE("out of file descriptors, the accept loop backs off instead of spinning", "[hostile][http]") {
  server_process s;
  // Leave the server a handful of descriptors: the connections below exhaust them and the rest
  // wait in the listen backlog.
  const int limit = open_fds(s.pid()) + 8;
  rlimit lim{static_cast<rlim_t>(limit), static_cast<rlim_t>(limit)};
  REQUIRE(prlimit(s.pid(), RLIMIT_NOFILE, &lim, nullptr) == 0);
  std::vector<std::unique_ptr<raw_connection>> held;
  for (int i = 0; i < 24; ++i) held.push_back(std::make_unique<raw_connection>(s.port()));
  // The daemon says once when accept fails and it pauses: that, not a descriptor count sampled
  // from outside, is the state under test. 60 s bounds the wait (sanitizers, load).
  const bool paused = poll_until([&] { return s.log().find("accept failed") != std::string::npos; }, 60);
  INFO("limit " << limit << ", open now " << open_fds(s.pid()) << ", daemon log:\n" << s.log());
  REQUIRE(paused);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // A second of exhaustion costs the server next to no CPU time (a spinning accept loop burns
  // a whole core). This bounds work done, not speed.
  const double before = cpu_seconds(s.pid());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double spent = cpu_seconds(s.pid()) - before;
  CHECK(spent < 0.1);
  // Once descriptors free up, the waiting connections and new ones are served.
  held.resize(4);
  CHECK(poll_until([&] { return health_ok(s.port(), 5); }, 20));
  held.clear();
  CHECK(health_ok(s.port()));
  auto errors = read_metric(s.port(), "hearth_accept_errors_total{error=\"too_many_open_files\"}");
  REQUIRE(errors);
  CHECK(*errors >= 1);
  CHECK(s.terminate() == 0);
}

TEST_CASE("max connections: one more gets 503 and a close, a freed slot serves again", "[hostile][http]") {
  server_process s({"--max-connections", "4"});
  std::vector<std::unique_ptr<raw_connection>> held = served_connections(s.port(), 4);
  raw_connection fifth(s.port());
  check_refused(fifth, "connections");
  held.pop_back();
  CHECK(poll_until([&] { return health_ok(s.port(), 5); }, 10));
  held.clear();
  REQUIRE(poll_until([&] { return health_ok(s.port(), 5); }, 10));
  auto refused = read_metric(s.port(), "hearth_connections_refused_total{reason=\"max_connections\"}");
  REQUIRE(refused);
  CHECK(*refused >= 1);
  CHECK(s.terminate() == 0);
}

TEST_CASE("max connections: a WebSocket keeps its connection's slot until it closes", "[hostile][ws]") {
  server_process s({"--max-connections", "1"});
  // The start-up probe's connection frees the only slot once the server sees it close, so the
  // upgrade is retried until the slot is free.
  std::unique_ptr<raw_connection> ws;
  REQUIRE(poll_until([&] {
    ws = std::make_unique<raw_connection>(s.port());
    ws->send(simple_request("GET", "/v1/ws",
                            "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
    return ws->read_response().status == 101;
  }, 10));
  raw_connection second(s.port());
  check_refused(second, "connections");
  ws.reset();
  CHECK(poll_until([&] { return health_ok(s.port(), 5); }, 10));
}

TEST_CASE("max connections per peer: one client address cannot take every slot", "[hostile][http]") {
  server_process s({"--max-connections-per-peer", "2"});
  std::vector<std::unique_ptr<raw_connection>> held = served_connections(s.port(), 2);
  raw_connection third(s.port());
  check_refused(third, "this client");
  // Another address is another peer.
  raw_connection other(s.port(), 0, "127.0.0.2");
  other.send(simple_request("GET", "/health"));
  CHECK(other.read_response().status == 200);
  held[0]->close();
  CHECK(poll_until([&] { return health_ok(s.port(), 5); }, 10));
  held[1]->close();
  // The server may not have seen the closes yet: /metrics itself needs a slot of this peer.
  std::optional<double> refused;
  REQUIRE(poll_until([&] {
    return (refused = read_metric(s.port(), "hearth_connections_refused_total{reason=\"max_connections_per_peer\"}"))
        .has_value();
  }, 10));
  CHECK(*refused >= 1);
}

TEST_CASE("timeouts: every request's head and body are timed, and a started request gets 408", "[hostile][http]") {
  static server_process s({"--header-timeout", "1", "--body-timeout", "1", "--idle-timeout", "3"});
  auto expect_408 = [&](raw_connection& c) {
    raw_response r = c.read_response(10);
    INFO(r.status_line << "\n" << r.body);
    CHECK(r.status == 408);
    CHECK(r.header("connection") == "close");
    CHECK_FALSE(r.error_message().empty());
    CHECK(c.closed_by_server());
  };
  SECTION("a head that stops half-way") {
    raw_connection c(s.port());
    c.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    expect_408(c);
  }
  SECTION("the second request on a keep-alive connection stops half-way") {
    raw_connection c(s.port());
    c.send(simple_request("GET", "/health"));
    REQUIRE(c.read_response().status == 200);
    c.send("GET /health HTTP/1.1\r\nHo");
    expect_408(c);
  }
  SECTION("a head dripping one byte at a time (slowloris)") {
    raw_connection c(s.port());
    const std::string head = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + std::string(60, 'a');
    for (char ch : head) {
      if (!c.send(std::string(1, ch))) break;
      pollfd p{c.fd(), POLLIN, 0};
      if (poll(&p, 1, 200) > 0) break;  // the server answered
    }
    expect_408(c);
  }
  SECTION("a body that stops half-way") {
    raw_connection c(s.port());
    c.send("POST /v1/tokenize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 30\r\n\r\n{\"cont");
    expect_408(c);
  }
  SECTION("a second body that stops half-way") {
    raw_connection c(s.port());
    c.send(post_request("/v1/tokenize", R"({"content":"a"})"));
    REQUIRE(c.read_response().status == 200);
    c.send("POST /v1/tokenize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 30\r\n\r\n{\"cont");
    expect_408(c);
  }
  SECTION("an idle keep-alive connection is closed without a response") {
    raw_connection c(s.port());
    c.send(simple_request("GET", "/health"));
    REQUIRE(c.read_response().status == 200);
    CHECK(c.closed_by_server(15));
  }
  SECTION("a connection that never sends is closed without a response") {
    raw_connection c(s.port());
    CHECK(c.closed_by_server(15));
  }
  CHECK(health_ok(s.port()));
  auto timeouts = read_metric(s.port(), "hearth_requests_total{endpoint=\"other\",status=\"408\"}");
  CHECK((timeouts && *timeouts >= 1));
}

TEST_CASE("a client that half-closes after its request still gets the answer", "[hostile][http]") {
  static server_process s;
  SECTION("a whole answer") {
    raw_connection c(s.port());
    c.send(post_request("/v1/generate", R"({"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0})"));
    c.shut_write();
    // A whole answer may be preceded by an interim 100: the server's probe for a closed socket.
    raw_response r = c.read_final_response(30);
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["usage"]["completion_tokens"] == 8);
    CHECK(c.closed_by_server());
  }
  SECTION("a stream") {
    raw_connection c(s.port());
    c.send(post_request("/v1/completions",
                        R"({"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0, "stream": true})"));
    c.shut_write();
    // A whole answer may be preceded by an interim 100: the server's probe for a closed socket.
    raw_response r = c.read_final_response(30);
    REQUIRE(r.status == 200);
    auto events = sse_payloads(r.body);
    REQUIRE_FALSE(events.empty());
    CHECK(events.back() == "[DONE]");
    CHECK(c.closed_by_server());
  }
  SECTION("two pipelined requests, then the half-close") {
    raw_connection c(s.port());
    c.send(post_request("/v1/tokenize", R"({"content":"a"})") + simple_request("GET", "/v1/models"));
    c.shut_write();
    CHECK(c.read_final_response().status == 200);
    CHECK(c.read_final_response().status == 200);
    CHECK(c.closed_by_server());
  }
  CHECK(health_ok(s.port()));
}

TEST_CASE("a client that goes away is still noticed: its generation is cancelled", "[hostile][http]") {
  server_process s({"-m", slow_model, "--parallel", "2"});
  auto cancelled = [&] {
    return read_metric(s.port(), "hearth_generations_total{reason=\"cancelled\"}").value_or(0);
  };
  auto running = [&] { return read_metric(s.port(), "hearth_running_sequences").value_or(-1); };
  const std::string whole = R"({"prompt": "Hello", "max_tokens": 1000})";
  const std::string stream = R"({"prompt": "Hello", "max_tokens": 1000, "stream": true})";
  struct leaving {
    const char* name;
    const std::string& body;
    void (raw_connection::*leave)();
  };
  for (const leaving& l : {leaving{"a full close while a whole answer is pending", whole, &raw_connection::close},
                           leaving{"a reset while a whole answer is pending", whole, &raw_connection::reset},
                           leaving{"a full close while streaming", stream, &raw_connection::close}}) {
    DYNAMIC_SECTION(l.name) {
      raw_connection c(s.port());
      c.send(post_request("/v1/generate", l.body));
      REQUIRE(poll_until([&] { return running() == 1; }));
      (c.*l.leave)();
      CHECK(poll_until([&] { return cancelled() == 1 && running() == 0; }, 60));
    }
  }
  CHECK(read_metric(s.port(), "hearth_kv_blocks_used") == 0);
  // Nothing keeps polling the dead socket: a second idle costs next to no CPU (a bound on work).
  const double before = cpu_seconds(s.pid());
  std::this_thread::sleep_for(std::chrono::seconds(1));
  CHECK(cpu_seconds(s.pid()) - before < 0.1);
}

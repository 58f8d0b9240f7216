// The daemon under concurrency and failure: batching must not change anyone's output, a full
// queue answers 429, a vanished or slow client costs nothing to others, SIGTERM ends streams.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <random>
#include <nlohmann/json.hpp>
#include <thread>

#include "metric_reader.h"
#include "server_process.h"

using namespace hearth::test;
using json = nlohmann::json;

namespace {


// Polls until pred() holds; fails the test after `seconds`.
template <class Pred>
void wait_until(Pred pred, const char* what, int seconds = 60) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) FAIL("timed out waiting for " << what);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// A raw client: sends a request and leaves the socket to the caller (to read slowly or drop).
int open_request(int port, const std::string& path, const std::string& body, int rcvbuf = 0) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  REQUIRE(write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  return fd;
}

std::string read_until(int fd, const std::string& marker) {
  std::string got;
  char buf[4096];
  while (got.find(marker) == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, n);
  }
  return got;
}

std::string stream_text(const http_result& r) {
  std::string text;
  for (const auto& p : sse_payloads(r.body)) {
    json e = json::parse(p);
    if (e.contains("token")) text += e["token"]["text"].get<std::string>();
  }
  return text;
}

}  // namespace

TEST_CASE("16 concurrent streams each equal the same request run alone", "[http][load]") {
  server_process s({"--parallel", "8"});
  const char* animals[] = {"cat", "dog", "bird", "frog", "bear", "fox", "fish", "duck",
                           "lion", "cow", "pig", "bee", "owl", "mouse", "horse", "bunny"};
  std::vector<std::string> bodies;
  for (const char* a : animals) {
    bodies.push_back(json{{"prompt", std::string("Once upon a time there was a little ") + a},
                          {"max_tokens", 200}, {"temperature", 0}, {"stream", true}}
                         .dump());
  }
  std::vector<std::string> alone;
  for (const auto& b : bodies) {
    auto r = curl_json(s.url("/v1/generate"), b, {"-N"});
    REQUIRE(r.status == 200);
    alone.push_back(stream_text(r));
  }
  std::vector<std::future<http_result>> together;
  for (const auto& b : bodies) {
    together.push_back(std::async(std::launch::async, [&s, b] { return curl_json(s.url("/v1/generate"), b, {"-N"}); }));
  }
  for (size_t i = 0; i < bodies.size(); ++i) {
    http_result r = together[i].get();
    INFO("request " << i << " (" << animals[i] << ")");
    REQUIRE(r.status == 200);
    CHECK(stream_text(r) == alone[i]);
    CHECK(json::parse(sse_payloads(r.body).back())["finish_reason"] == "length");
  }
  // Batching really happened: some forward passes carried several sequences.
  const double passes = metric(s, "hearth_batch_sequences_count");
  const double single = metric(s, "hearth_batch_sequences_bucket{le=\"1\"}");
  CHECK(passes - single > 0);
  CHECK(s.terminate() == 0);
}

TEST_CASE("a full queue answers 429 with Retry-After, and /health and /metrics stay prompt", "[http][load]") {
  server_process s({"-m", slow_model, "--parallel", "1", "--queue-limit", "1"});
  const std::string body = json{{"prompt", "Hello"}, {"max_tokens", 1000}, {"stream", true}}.dump();
  int running = open_request(s.port(), "/v1/generate", body);
  wait_until([&] { return metric(s, "hearth_running_sequences") == 1; }, "the first request to run");
  int queued = open_request(s.port(), "/v1/generate", body);
  wait_until([&] { return metric(s, "hearth_queue_depth") == 1; }, "the second request to queue");
  auto refused = curl_json(s.url("/v1/completions"), R"({"prompt": "Hi", "max_tokens": 4})");
  CHECK(refused.status == 429);
  CHECK(refused.headers.count("retry-after") == 1);
  json err = json::parse(refused.body);
  CHECK(err["error"]["type"] == "rate_limit_error");
  // Under full load the cheap endpoints still answer.
  CHECK(curl(s.url("/health"), {"--max-time", "2"}).status == 200);
  CHECK(curl(s.url("/metrics"), {"--max-time", "2"}).status == 200);
  // Dropping both clients frees the running sequence and the queued request.
  close(running);
  close(queued);
  wait_until([&] { return metric(s, "hearth_running_sequences") == 0 && metric(s, "hearth_queue_depth") == 0; },
             "the dropped requests to be freed");
  CHECK(metric(s, "hearth_kv_blocks_used") == 0);
  CHECK(metric(s, "hearth_generations_total{reason=\"cancelled\"}") == 2);
  CHECK(s.terminate() == 0);
}

TEST_CASE("a client dropping mid-stream frees its sequence, and the server keeps serving", "[http][load]") {
  server_process s({"-m", slow_model, "--parallel", "2"});
  int fd = open_request(s.port(), "/v1/generate", json{{"prompt", "Hello"}, {"max_tokens", 1000}, {"stream", true}}.dump());
  read_until(fd, "\"token\"");  // the stream is running
  CHECK(metric(s, "hearth_running_sequences") == 1);
  close(fd);
  wait_until([&] { return metric(s, "hearth_running_sequences") == 0; }, "the sequence to be freed");
  CHECK(metric(s, "hearth_kv_blocks_used") == 0);
  CHECK(metric(s, "hearth_generations_total{reason=\"cancelled\"}") == 1);
  auto after = curl_json(s.url("/v1/generate"), R"({"prompt": "Hello", "max_tokens": 3})");
  CHECK(after.status == 200);
  CHECK(json::parse(after.body)["usage"]["completion_tokens"] == 3);
  CHECK(s.terminate() == 0);
}

TEST_CASE("a client that stops reading is cut off alone, others are unaffected", "[http][load]") {
  // Small kernel buffers on both ends, so a client that stops reading is felt within kilobytes.
  server_process s({"--parallel", "2", "--max-stream-backlog", "16", "--send-buffer", "4096"});
  // A tiny receive window and no reading: the server's writes stall, its backlog fills. (OpenAI
  // chunks are ~190 bytes: 480 of them are far more than the socket buffers hold.)
  int fd = open_request(s.port(), "/v1/completions",
                        json{{"prompt", "Once upon a time"}, {"max_tokens", 480}, {"temperature", 0}, {"stream", true}}.dump(),
                        1024);
  wait_until([&] { return metric(s, "hearth_running_sequences") == 0 &&
                          metric(s, "hearth_generations_total{reason=\"cancelled\"}") == 1; },
             "the stalled stream to be ended");
  auto other = curl_json(s.url("/v1/generate"), R"({"prompt": "Once upon a time", "max_tokens": 64, "temperature": 0})");
  CHECK(other.status == 200);
  std::string rest = read_until(fd, "stream_backlog");
  CHECK(rest.find("stream_backlog") != std::string::npos);
  close(fd);
  CHECK(s.terminate() == 0);
}

TEST_CASE("SIGTERM ends in-flight requests with server_shutting_down (not a cancel) and exits 0", "[http][load]") {
  server_process s({"-m", slow_model, "--parallel", "3"});
  const json long_request = {{"prompt", "Hello"}, {"max_tokens", 1000}};
  json native = long_request, chat = {{"messages", {{{"role", "user"}, {"content", "Hello"}}}}, {"max_tokens", 1000}};
  native["stream"] = chat["stream"] = true;
  int native_fd = open_request(s.port(), "/v1/generate", native.dump());
  int chat_fd = open_request(s.port(), "/v1/chat/completions", chat.dump());
  int whole_fd = open_request(s.port(), "/v1/completions", long_request.dump());
  read_until(native_fd, "\"token\"");
  wait_until([&] { return metric(s, "hearth_running_sequences") == 3; }, "all three requests to run");
  auto t0 = std::chrono::steady_clock::now();
  CHECK(s.terminate(15) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  // The native stream's final event names the reason and carries the error.
  const std::string native_rest = read_until(native_fd, "\r\n0\r\n\r\n");
  CHECK(native_rest.find("\"finish_reason\":\"shutdown\"") != std::string::npos);
  CHECK(native_rest.find("\"code\":\"server_shutting_down\"") != std::string::npos);
  // An OpenAI stream ends with an error event (which the openai SDK raises), then [DONE].
  const std::string chat_rest = read_until(chat_fd, "[DONE]");
  CHECK(chat_rest.find("\"code\":\"server_shutting_down\"") != std::string::npos);
  CHECK(chat_rest.find("generation cancelled") == std::string::npos);
  // A whole answer is a 503.
  const std::string whole = read_until(whole_fd, "server_shutting_down");
  CHECK(whole.starts_with("HTTP/1.1 503"));
  CHECK(whole.find("\"code\":\"server_shutting_down\"") != std::string::npos);
  for (int fd : {native_fd, chat_fd, whole_fd}) close(fd);
}

TEST_CASE("SIGTERM while the model loads exits 0 without publishing the model", "[http][load]") {
  // The loader is still reading the model when shutdown begins: shutdown must not read what the
  // loader writes (a data race, which the TSan build reports), and the loader must not publish
  // afterwards. The model takes a while to load (160M parameters repacked); /health answering
  // "loading" shows the daemon serves (its signal handler is in place) before the load ends.
  server_process s({"-m", slow_model}, /*wait_ready=*/false);
  const http_result h = curl(s.url("/health"));
  REQUIRE(h.status == 503);
  REQUIRE(json::parse(h.body)["status"] == "loading");
  s.signal_term();
  CHECK(s.wait_exit(120) == 0);
  const std::string log = s.log();
  INFO(log);
  CHECK(log.find("ThreadSanitizer") == std::string::npos);
  const size_t stopping = log.find("hearth: stopping"), ready = log.find("hearth: ready");
  REQUIRE(stopping != std::string::npos);
  if (ready < stopping) {
    WARN("the load ended before SIGTERM arrived: shutdown during the load was not exercised");
  } else {
    CHECK(ready == std::string::npos);  // nothing is published once shutdown began
    CHECK(log.find("hearth: stopped before the model was ready") != std::string::npos);
  }
}

TEST_CASE("signals that keep arriving during shutdown never end the daemon by a signal", "[http][load]") {
  // systemd signals the main process and then its whole cgroup; timeout(1) the child and then
  // its group; a user presses Ctrl-C twice. A signal that lands while the daemon tears down
  // (after the handler that began the shutdown) must not take the default action: the exit
  // status of a clean shutdown is 0, not 128 + the signal. Signalled every millisecond from the
  // first until the process is gone, so every stage of the teardown receives one.
  for (int sig : {SIGINT, SIGTERM}) {
    server_process s;
    const pid_t pid = s.daemon_pid();
    int code = -1;
    for (int i = 0; i < 20'000 && code < 0; ++i) {
      ::kill(pid, sig);  // the process stays until reaped below, so the pid is never another's
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      code = s.poll_exit();
    }
    INFO("signal " << sig << "; log: " << s.log());
    CHECK(code == 0);
  }
}

TEST_CASE("queue limit: only requests that must wait count against --queue-limit", "[http][load]") {
  {
    // Nothing may wait, but an idle server starts a request at once.
    server_process s({"--queue-limit", "0"});
    CHECK(curl_json(s.url("/v1/generate"), R"({"prompt": "Hello", "max_tokens": 4})").status == 200);
  }
  // Bursts of as many requests as may run at once: none has to wait, none is refused.
  server_process s({"--parallel", "8", "--queue-limit", "1"});
  for (int burst = 0; burst < 3; ++burst) {
    std::vector<std::future<http_result>> replies;
    for (int i = 0; i < 8; ++i) {
      replies.push_back(std::async(std::launch::async, [&s] {
        return curl_json(s.url("/v1/completions"), R"({"prompt": "Once upon a time", "max_tokens": 8})");
      }));
    }
    for (auto& r : replies) {
      const http_result got = r.get();
      INFO("burst " << burst << ": " << got.body);
      CHECK(got.status == 200);
    }
  }
  CHECK(s.terminate() == 0);
}

TEST_CASE("garbage on the wire gets a 400 or a closed connection, never a crash", "[http][load]") {
  server_process s;
  auto raw = [&](const std::string& bytes) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(s.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    (void)!write(fd, bytes.data(), bytes.size());
    shutdown(fd, SHUT_WR);
    std::string got = read_until(fd, "\r\n\r\n");
    close(fd);
    return got;
  };
  CHECK(raw("GARBAGE\r\n\r\n").starts_with("HTTP/1.1 400"));
  CHECK(raw("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: " + std::string(100000, 'a') + "\r\n\r\n").starts_with("HTTP/1.1 431"));
  const std::string truncated = raw("POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"pro");
  CHECK((truncated.empty() || truncated.starts_with("HTTP/1.1 400")));
  CHECK(raw("POST /v1/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n").starts_with("HTTP/1.1 400"));
  std::mt19937 rng(5);
  for (int i = 0; i < 200; ++i) {
    std::string junk(1 + rng() % 300, ' ');
    for (char& c : junk) c = static_cast<char>(rng());
    raw(junk);
  }
  auto ok = curl_json(s.url("/v1/generate"), R"({"prompt": "Once upon a time", "max_tokens": 4})");
  CHECK(ok.status == 200);
  CHECK(s.terminate() == 0);
}

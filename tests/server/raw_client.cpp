#include "raw_client.h"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

namespace hearth::test {

namespace {

long long now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string raw_response::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

std::string raw_response::error_message() const {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object() || !j["error"]["message"].is_string()) return {};
  return j["error"]["message"].get<std::string>();
}

raw_connection::raw_connection(int port, int rcvbuf, const char* source_ip) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd_ >= 0);
  if (rcvbuf > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (source_ip) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    REQUIRE(inet_pton(AF_INET, source_ip, &src.sin_addr) == 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
}

raw_connection::~raw_connection() {
  if (fd_ >= 0) ::close(fd_);
}

bool raw_connection::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void raw_connection::shut_write() { ::shutdown(fd_, SHUT_WR); }

void raw_connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void raw_connection::reset() {
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close();
}

bool raw_connection::fill(long long deadline_ms) {
  if (eof_ || fd_ < 0) return false;
  for (;;) {
    const long long left = deadline_ms - now_ms();
    if (left <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }
}

bool raw_connection::read_exact(size_t n, long long deadline_ms) {
  while (buf_.size() < n) {
    if (!fill(deadline_ms)) return false;
  }
  return true;
}

bool raw_connection::read_line(std::string& line, long long deadline_ms) {
  size_t at;
  while ((at = buf_.find("\r\n")) == std::string::npos) {
    if (!fill(deadline_ms)) return false;
  }
  line = buf_.substr(0, at);
  buf_.erase(0, at + 2);
  return true;
}

raw_response raw_connection::read_response(int timeout_s, bool head) {
  const long long deadline = now_ms() + timeout_s * 1000LL;
  raw_response r;
  size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(deadline)) return r;
  }
  std::string head_text = buf_.substr(0, end + 2);
  buf_.erase(0, end + 4);
  size_t line_end = head_text.find("\r\n");
  r.status_line = head_text.substr(0, line_end);
  if (r.status_line.size() < 12 || !r.status_line.starts_with("HTTP/1.")) return r;
  r.status = std::stoi(r.status_line.substr(9, 3));
  for (size_t pos = line_end + 2; pos < head_text.size();) {
    const size_t next = head_text.find("\r\n", pos);
    const std::string line = head_text.substr(pos, next - pos);
    pos = next + 2;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t v = line.find_first_not_of(" \t", colon + 1);
    r.headers.emplace(lower(line.substr(0, colon)), v == std::string::npos ? "" : line.substr(v));
  }
  if (head || r.status < 200 || r.status == 204 || r.status == 304) return r;
  if (lower(r.header("transfer-encoding")) == "chunked") {
    r.chunked = true;
    for (;;) {
      std::string size_line;
      if (!read_line(size_line, deadline)) return r;
      const size_t size = std::stoul(size_line, nullptr, 16);
      if (size == 0) {
        std::string trailer;
        while (read_line(trailer, deadline) && !trailer.empty()) {
        }
        return r;
      }
      if (!read_exact(size + 2, deadline)) return r;
      r.body += buf_.substr(0, size);
      buf_.erase(0, size + 2);
    }
  }
  if (r.has("content-length")) {
    const size_t n = std::stoul(r.header("content-length"));
    read_exact(n, deadline);
    r.body = buf_.substr(0, std::min(n, buf_.size()));
    buf_.erase(0, r.body.size());
    return r;
  }
  r.until_close = true;
  while (fill(deadline)) {
  }
  r.body = std::move(buf_);
  buf_.clear();
  return r;
}

raw_response raw_connection::read_final_response(int timeout_s, bool head) {
  raw_response r = read_response(timeout_s, head);
  while (r.status >= 100 && r.status < 200) r = read_response(timeout_s, head);
  return r;
}

bool raw_connection::closed_by_server(int timeout_s) {
  if (!buf_.empty()) return false;
  const long long deadline = now_ms() + timeout_s * 1000LL;
  if (fill(deadline)) return false;  // the server sent something
  return eof_;
}

std::string raw_connection::read_to_close(int timeout_s) {
  const long long deadline = now_ms() + timeout_s * 1000LL;
  while (fill(deadline)) {
  }
  std::string out = std::move(buf_);
  buf_.clear();
  return out;
}

raw_response raw_exchange(int port, std::string_view bytes, int timeout_s) {
  raw_connection c(port);
  c.send(bytes);
  return c.read_response(timeout_s);
}

std::string simple_request(std::string_view method, std::string_view target, std::string_view extra,
                           std::string_view version) {
  std::string r;
  r.append(method).append(" ").append(target).append(" ").append(version).append("\r\n");
  r += "Host: 127.0.0.1\r\n";
  r.append(extra);
  r += "\r\n";
  return r;
}

std::string post_request(std::string_view target, std::string_view json_body, std::string_view extra) {
  std::string r = "POST ";
  r.append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n");
  r += "Content-Length: " + std::to_string(json_body.size()) + "\r\n";
  r.append(extra);
  r += "\r\n";
  r.append(json_body);
  return r;
}

bool health_ok(int port, int timeout_s) {
  raw_response r = raw_exchange(port, simple_request("GET", "/health"), timeout_s);
  return r.status == 200 && r.body.find("\"ok\"") != std::string::npos;
}

std::optional<double> read_metric(int port, const std::string& sample) {
  raw_response r = raw_exchange(port, simple_request("GET", "/metrics"));
  if (r.status != 200) return std::nullopt;
  const size_t at = ("\n" + r.body).find("\n" + sample + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::stod(r.body.substr(at + sample.size() + 1));
}

bool poll_until(const std::function<bool()>& pred, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace hearth::test

#pragma once
// A raw HTTP/1.x client over one loopback TCP socket, for tests that send what well-behaved
// clients never would: exact bytes, pauses, half-closes, pipelines. It reads responses itself
// (Content-Length, chunked, or up to the close) so a test can assert the exact status, the
// headers, and whether the server closed the connection.
//
// Every wait is bounded (the `timeout_s` arguments) so a server that never answers fails the
// test instead of hanging it. Not thread-safe: one thread per connection.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::test {

struct raw_response {
  int status = 0;                              // 0: no response before the close or the timeout
  std::string status_line;                     // "HTTP/1.1 200 OK"
  std::multimap<std::string, std::string> headers;  // lower-case names, values as sent
  std::string body;                            // de-chunked
  bool chunked = false;                        // the body came chunked
  bool until_close = false;                    // the body had no length: it ended with the connection

  // The first value of a header, or "" if absent.
  std::string header(const std::string& name) const;
  bool has(const std::string& name) const { return headers.count(name) > 0; }
  // The error message of an OpenAI-style error body, or "" if the body is not one.
  std::string error_message() const;
};

class raw_connection {
 public:
  // Connects to 127.0.0.1:port (REQUIREs success). rcvbuf > 0 sets a small receive buffer;
  // source_ip binds the client end first (another loopback address such as 127.0.0.2 is
  // another peer to the server).
  explicit raw_connection(int port, int rcvbuf = 0, const char* source_ip = nullptr);
  ~raw_connection();
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  // Writes all bytes; false if the peer is gone (reset or closed for writing).
  bool send(std::string_view bytes);
  void shut_write();  // shutdown(SHUT_WR): "I am done sending", still reading
  void close();       // a full close (no reset unless data is unread)
  void reset();       // close with SO_LINGER 0: the peer sees a reset

  // Reads one response. Interim 1xx responses are returned like any other (read again for the
  // final one). `head`: the response to a HEAD request (no body whatever its headers say).
  raw_response read_response(int timeout_s = 10, bool head = false);
  // The same, skipping interim (1xx) responses.
  raw_response read_final_response(int timeout_s = 10, bool head = false);
  // True if the server closes the connection (EOF or reset) within `timeout_s` without sending
  // more bytes; false if it sends bytes or stays open. Bytes already buffered count as "sent".
  bool closed_by_server(int timeout_s = 10);
  // Everything the server sends until it closes (or `timeout_s` passes), after what was read.
  std::string read_to_close(int timeout_s = 10);
  // Bytes received but not yet consumed by read_response.
  const std::string& pending() const { return buf_; }

  int fd() const { return fd_; }

 private:
  // Appends what arrives within `deadline_ms` (absolute, steady clock); false on EOF/error/timeout.
  bool fill(long long deadline_ms);
  bool read_exact(size_t n, long long deadline_ms);
  bool read_line(std::string& line, long long deadline_ms);

  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

// One request on a fresh connection: sends `bytes`, returns the first response.
raw_response raw_exchange(int port, std::string_view bytes, int timeout_s = 10);

// A GET (or any method without a body) with a Host header and `extra` header lines (each ending
// in \r\n), e.g. get_request("GET", "/health").
std::string simple_request(std::string_view method, std::string_view target, std::string_view extra = "",
                           std::string_view version = "HTTP/1.1");
// A POST of a JSON body with Content-Length.
std::string post_request(std::string_view target, std::string_view json_body, std::string_view extra = "");

// Whether the server answers GET /health with 200 on a fresh connection.
bool health_ok(int port, int timeout_s = 10);

// One sample of GET /metrics, e.g. "hearth_running_sequences" or
// "hearth_requests_total{endpoint=\"/health\",status=\"200\"}"; nullopt if the server does not
// report it (so a renamed metric fails a test instead of reading as 0).
std::optional<double> read_metric(int port, const std::string& sample);

// Calls pred every 20 ms until it holds (true) or `seconds` pass (false).
bool poll_until(const std::function<bool()>& pred, int seconds = 30);

}  // namespace hearth::test

#pragma once
// One HTTP/1.x connection (keep-alive, pipelining): reads each request in three timed phases,
// hands it to the routes, writes the answer (whole, chunked event stream, or a close-delimited
// stream for HTTP/1.0), then reads the next. A WebSocket upgrade hands the socket to a ws_session.
//
// Timing, per request: until its first byte, the idle timeout (a new connection: the header
// timeout, counted from accept); from the first byte to the end of the head, the header
// timeout; the body, the body timeout. A request that began but did not arrive in time gets
// 408 and the connection closes; an idle connection just closes. Writes that stall for the idle
// timeout end the connection.
//
// Heads are read strictly (http_head.h) before Beast parses them; anything that makes the
// message framing doubtful is answered 400/501 and closes the connection. Refusals decided on
// the head (routes: admit_request) are answered before the body is read.
//
// A client that closes its sending side (a half-close) still gets its answer: only a reset or a
// failed write means the client is gone (see watch_peer in the .cpp for how a client that
// closed entirely is told apart).
//
// Every answer carries x-request-id, and every request is recorded (request_log.h) once its
// answer has been written, with the status actually sent.
//
// Everything runs on the connection's strand; http_exchange posts onto it. The session owns the
// connection's slot (connection_limits.h) and passes it on with the socket.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "app.h"
#include "connection_limits.h"
#include "http_exchange.h"
#include "http_head.h"
#include "routes.h"

namespace hearth {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(tcp::socket&& socket, app& a, connection_slot slot);
  ~http_session();
  void start();
  // Instead of start(): answer `refusal` at once (no request is read), then close.
  void refuse(http::response<http::string_body> refusal, std::shared_ptr<connection_limits> limits);

  // Called on the strand by http_exchange.
  void exchange_respond(uint64_t id, http::response<http::string_body> res);
  void exchange_stream_begin(uint64_t id, http::response<http::empty_body> header);
  void exchange_stream_write(uint64_t id, std::string data);
  void exchange_stream_end(uint64_t id);
  void exchange_log_detail(uint64_t id, std::string detail);
  net::any_io_executor executor() { return socket_.get_executor(); }

 private:
  // What is known about the request being read or answered, for its answer and its log line.
  struct request_state {
    bool started = false;  // a byte of it arrived (and it is not recorded yet)
    std::chrono::steady_clock::time_point begun;
    std::string id;  // x-request-id
    std::string method = "-", path = "-";
    std::string_view endpoint = "other";
    std::string origin;
    int minor_version = 1;
    bool head_method = false;
    bool keep_alive = false;
    int status = 0;  // sent
    uint64_t bytes = 0;
    std::string detail;
  };

  // Reading.
  void await_request();
  void on_first_bytes(beast::error_code ec, size_t n);
  void begin_request();
  void read_head();
  void on_head_bytes(beast::error_code ec, size_t n);
  void on_head(size_t skip, size_t end);
  void admit(const head_fields& fields, size_t skip, size_t end);
  void read_body();
  void on_body(beast::error_code ec, size_t n);
  void on_read_error(beast::error_code ec);
  void upgrade_to_websocket();
  void dispatch();
  size_t read_room() const;

  // Deadlines: one timer; when it fires, pending socket operations are cancelled.
  void arm_deadline(std::chrono::seconds d);
  void disarm_deadline();

  // Answering.
  void decorate(http::response_header<>& h);
  void answer(http::response<http::string_body> res);
  void answer_and_close(int status, const std::string& message, const std::string& param = "");
  // After any write of an answer: false (and the connection closed) if it failed.
  bool write_done(beast::error_code ec, size_t n);
  void on_answer_written(beast::error_code ec, size_t n);
  void write_next_chunk();
  void on_chunk_written(beast::error_code ec, size_t n);
  void end_request(std::string_view outcome);
  void next_or_close();

  // The client while its answer is pending.
  void watch_peer();
  void arm_peer_waits();
  void examine_peer();
  void on_peer_finished_sending();
  void peer_gone();

  void close_now();
  void close_gracefully();
  void drain();

  tcp::socket socket_;
  std::string peer_;  // the client's address ("" if it could not be read)
  net::steady_timer deadline_;
  uint64_t deadline_generation_ = 0;
  bool timed_out_ = false;
  beast::flat_buffer buffer_;
  app& app_;
  connection_slot slot_;
  std::shared_ptr<connection_limits> refusing_;  // set while answering a refused connection

  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<head_finder> finder_;
  request_state req_;
  const route* route_ = nullptr;
  bool first_request_ = true;
  bool closed_ = false;
  size_t drained_ = 0;

  // The exchange in progress (null: none) and its answer's state. While an exchange waits for
  // its answer no I/O operation may be pending, so the session holds itself alive until it ends.
  uint64_t next_id_ = 1;
  std::shared_ptr<http_exchange> current_;
  std::shared_ptr<http_session> self_;
  bool answered_ = false;
  bool streaming_ = false;
  bool close_delimited_ = false;  // an HTTP/1.0 stream: no chunks, the close ends it
  bool stream_done_ = false;
  bool writing_ = false;
  std::deque<std::string> chunks_;
  std::string in_flight_;
  std::shared_ptr<http::response<http::empty_body>> stream_header_;
  std::shared_ptr<http::response_serializer<http::empty_body>> stream_serializer_;

  // The peer: whether its sending side is closed, and which watches are pending.
  bool peer_finished_ = false;
  bool peer_data_pending_ = false;  // bytes of a further request wait in the socket
  bool watching_read_ = false;
  bool watching_error_ = false;
};

}  // namespace hearth

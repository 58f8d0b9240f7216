#pragma once
// One HTTP/1.1 connection (keep-alive): reads a request with header/idle timeouts and a body
// limit, hands it to the router, writes the answer (whole or as a chunked event stream), then
// reads the next. A WebSocket upgrade hands the socket to a ws_session.
//
// While a request waits for its answer, the session watches the socket: if the client closes
// it, the exchange's cancel flag is set, so the scheduler frees the sequence at its next step.
//
// Everything runs on the connection's strand; http_exchange posts onto it.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "app.h"
#include "http_exchange.h"

namespace hearth {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(tcp::socket&& socket, app& a);
  void start();

  // Called on the strand by http_exchange.
  void exchange_respond(uint64_t id, http::response<http::string_body> res);
  void exchange_stream_begin(uint64_t id, http::response<http::empty_body> header);
  void exchange_stream_write(uint64_t id, std::string data);
  void exchange_stream_end(uint64_t id);
  net::any_io_executor executor() { return stream_.get_executor(); }

 private:
  void do_read();
  void on_read(beast::error_code ec, size_t bytes);
  void handle(http::request<http::string_body>&& req);
  void write_response(std::shared_ptr<http::response<http::string_body>> res);
  void on_write(bool keep_alive, beast::error_code ec, size_t bytes);
  void write_next_chunk();
  void on_chunk_written(beast::error_code ec, size_t bytes);
  void watch_for_close();
  void finish_exchange(bool keep_alive);
  void close();
  void end_exchange();  // the exchange is answered in full (or abandoned)

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  app& app_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool first_request_ = true;

  // The exchange in progress (0: none) and its streaming state. While an exchange waits for its
  // answer no I/O operation may be pending, so the session holds itself alive until it ends.
  uint64_t next_id_ = 1;
  std::shared_ptr<http_exchange> current_;
  std::shared_ptr<http_session> self_;
  bool keep_alive_ = false;
  bool answered_ = false;
  bool streaming_ = false;
  bool stream_done_ = false;
  bool writing_ = false;
  bool watching_ = false;
  char peek_byte_ = 0;  // watch_for_close's peek target (the byte stays in the socket)
  std::deque<std::string> chunks_;
  std::string in_flight_;
  std::shared_ptr<http::response<http::empty_body>> stream_header_;
  std::shared_ptr<http::response_serializer<http::empty_body>> stream_serializer_;
};

}  // namespace hearth

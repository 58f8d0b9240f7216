#pragma once
// GET /v1/ws: a WebSocket carrying JSON messages. The client sends {"type":"generate","id":..}
// (the /v1/generate fields) and {"type":"cancel","id":..}; the server answers each generation
// with {"type":"token",..} messages and one {"type":"done",..} or {"type":"error",..}. Several
// generations run at once on one socket, told apart by id. Closing the socket cancels them all.
//
// Runs on the connection's strand; sinks post onto it from the scheduler thread. Writes go out
// one at a time from a queue; a generation whose messages pile up beyond max_stream_backlog is
// ended with an error, so a client that stops reading cannot make the server buffer forever.
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "app.h"
#include "proto/ws_api.h"

namespace hearth {

class ws_session : public std::enable_shared_from_this<ws_session> {
 public:
  ws_session(boost::asio::ip::tcp::socket&& socket, app& a);
  ~ws_session();
  void start(boost::beast::http::request<boost::beast::http::string_body> req);

  // On the strand: queue a message to the client. `id` names the generation it belongs to.
  void send(const std::string& id, std::string message);
  // On the strand: a message of the session's own (not from a sink): counted, then sent.
  void reply(const std::string& id, const nlohmann::json& event);
  // On the strand: a generation has sent its last message.
  void generation_done(const std::string& id);
  boost::asio::any_io_executor executor() { return ws_.get_executor(); }
  int64_t backlog() const { return backlog_->load(std::memory_order_relaxed); }
  const std::shared_ptr<std::atomic<int64_t>>& backlog_counter() const { return backlog_; }

 private:
  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, size_t bytes);
  void handle_message(std::string_view text);
  void start_generation(proto::ws_generate g);
  void write_next();
  void on_write(boost::beast::error_code ec, size_t bytes);
  void cancel_all();

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer buffer_;
  app& app_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool closed_ = false;
  std::map<std::string, cancel_flag, std::less<>> active_;
  std::shared_ptr<std::atomic<int64_t>> backlog_ = std::make_shared<std::atomic<int64_t>>(0);
};

}  // namespace hearth

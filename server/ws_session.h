#pragma once
// GET /v1/ws: a WebSocket carrying JSON messages. The client sends {"type":"generate","id":..}
// (the /v1/generate fields) and {"type":"cancel","id":..}; the server answers each generation
// with {"type":"token",..} messages and one {"type":"done",..} or {"type":"error",..}. Several
// generations run at once on one socket, told apart by id. Closing the socket cancels them all.
//
// Runs on the connection's strand; sinks post onto it from the scheduler thread. Writes go out
// one at a time from one queue (the outbox), bounded in messages and bytes (max_stream_backlog,
// max_stream_backlog_bytes) so that a client that stops reading cannot make the server buffer:
// - a generation's tokens are refused past the bound, and it ends with a `stream_backlog` error;
// - past the bound the session stops reading the client's messages (backpressure: TCP flow
//   control then holds the client, not the server's memory) and resumes once the outbox is
//   below half of both bounds. So replies of the session's own (errors to bad messages) add at
//   most one message past the bound, and every generation still gets its one final message.
// When the socket closes, the outbox is freed at once. At shutdown the session sends its queued
// messages, then a Close frame with 1001 (going away).
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "app.h"
#include "proto/ws_api.h"

namespace hearth {

// Messages and bytes handed to a session but not yet written. Shared with the session's sinks,
// which read it on the scheduler thread; every field is atomic.
struct ws_backlog {
  std::atomic<int64_t> messages{0};
  std::atomic<int64_t> bytes{0};

  void add(size_t n) {
    messages.fetch_add(1, std::memory_order_relaxed);
    bytes.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
  }
  void remove(size_t n) {
    messages.fetch_sub(1, std::memory_order_relaxed);
    bytes.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
  }
  // More than max_messages or max_bytes are waiting.
  bool over(int64_t max_messages, int64_t max_bytes) const {
    return messages.load(std::memory_order_relaxed) > max_messages ||
           bytes.load(std::memory_order_relaxed) > max_bytes;
  }
};

class ws_session : public std::enable_shared_from_this<ws_session> {
 public:
  ws_session(boost::asio::ip::tcp::socket&& socket, app& a);
  ~ws_session();
  void start(boost::beast::http::request<boost::beast::http::string_body> req);

  // On the strand: queue a message counted in the backlog by whoever posted it.
  void send(std::string message);
  // On the strand: a generation has sent its last message.
  void generation_done(const std::string& id);
  // On the strand: the server is stopping. Sends what is queued, then Close 1001.
  void go_away();
  boost::asio::any_io_executor executor() { return ws_.get_executor(); }
  const std::shared_ptr<ws_backlog>& backlog() const { return backlog_; }

 private:
  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, size_t bytes);
  void handle_message(std::string_view text);
  void start_generation(proto::ws_generate g);
  // Hands an update, append, pause or resume to the scheduler; the generation's sink acknowledges.
  void steer_generation(proto::ws_steer m);
  // A message of the session's own (not from a sink): counted, then sent.
  void reply(const nlohmann::json& event);
  void write_next();
  void on_write(boost::beast::error_code ec, size_t bytes);
  void close_when_flushed();
  // The connection is gone: cancels the generations, frees the outbox, closes the socket.
  void on_closed();
  void cancel_all();
  bool backlog_over(int64_t divisor = 1) const;

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer buffer_;
  app& app_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool reading_ = false;      // a read is pending
  bool going_away_ = false;   // close with 1001 once the outbox is empty
  bool closing_ = false;      // the Close frame is queued or sent: nothing more is written
  bool closed_ = false;
  // Generations running on this socket, by the client's id: their cancel flag and steering box.
  struct generation_handle {
    cancel_flag cancel;
    std::shared_ptr<steering_box> steer;
  };
  std::map<std::string, generation_handle, std::less<>> active_;
  client_share client_;          // who its generations are for, in fair shares (routes.h client_of)
  std::string cache_partition_;  // the prefix cache partition of every generation (routes.h)
  std::shared_ptr<ws_backlog> backlog_ = std::make_shared<ws_backlog>();
};

}  // namespace hearth

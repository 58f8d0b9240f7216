#include "http_session.h"

#include <boost/beast/websocket.hpp>

#include "http_util.h"
#include "routes.h"
#include "ws_session.h"

namespace hearth {

namespace websocket = beast::websocket;

// --- http_exchange: hops onto the session's strand -------------------------------------------

http_exchange::http_exchange(std::weak_ptr<http_session> session, uint64_t id)
    : session_(std::move(session)),
      id_(id),
      cancel_(std::make_shared<std::atomic<bool>>(false)),
      backlog_(std::make_shared<std::atomic<int64_t>>(0)) {}

void http_exchange::respond(http::response<http::string_body> res) {
  if (auto s = session_.lock()) {
    net::post(s->executor(), [s, id = id_, res = std::move(res)]() mutable { s->exchange_respond(id, std::move(res)); });
  }
}

void http_exchange::stream_begin(http::response<http::empty_body> header) {
  if (auto s = session_.lock()) {
    net::post(s->executor(), [s, id = id_, h = std::move(header)]() mutable { s->exchange_stream_begin(id, std::move(h)); });
  }
}

void http_exchange::stream_write(std::string data) {
  if (auto s = session_.lock()) {
    backlog_->fetch_add(1, std::memory_order_relaxed);
    net::post(s->executor(), [s, id = id_, d = std::move(data)]() mutable { s->exchange_stream_write(id, std::move(d)); });
  }
}

void http_exchange::stream_end() {
  if (auto s = session_.lock()) {
    net::post(s->executor(), [s, id = id_] { s->exchange_stream_end(id); });
  }
}

// --- http_session ------------------------------------------------------------------------------

http_session::http_session(tcp::socket&& socket, app& a) : stream_(std::move(socket)), app_(a) {}

void http_session::start() {
  net::dispatch(stream_.get_executor(), beast::bind_front_handler(&http_session::do_read, shared_from_this()));
}

void http_session::do_read() {
  parser_.emplace();
  parser_->body_limit(static_cast<uint64_t>(app_.config.body_limit));
  parser_->header_limit(64 * 1024);
  // The first request must arrive within the header timeout; later ones within the idle one.
  stream_.expires_after(std::chrono::seconds(first_request_ ? app_.config.header_timeout_s
                                                             : app_.config.idle_timeout_s));
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&http_session::on_read, shared_from_this()));
}

void http_session::on_read(beast::error_code ec, size_t) {
  first_request_ = false;
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::connection_reset ||
      ec == net::error::operation_aborted) {
    return close();
  }
  if (ec) {
    // A request we cannot read: answer once, then close (the stream position is unknown).
    const bool too_large = ec == http::error::body_limit;
    auto res = std::make_shared<http::response<http::string_body>>(
        error_response(too_large ? 413 : 400,
                       too_large ? "request body exceeds the limit of " + std::to_string(app_.config.body_limit) + " bytes"
                                 : "malformed HTTP request: " + ec.message(),
                       too_large ? "body" : ""));
    res->keep_alive(false);
    app_.stats.count_request("other", res->result_int());
    keep_alive_ = false;
    return write_response(res);
  }
  http::request<http::string_body> req = parser_->release();
  if (websocket::is_upgrade(req)) {
    if (auto refusal = check_websocket_upgrade(app_, req)) {
      auto res = std::make_shared<http::response<http::string_body>>(std::move(*refusal));
      res->keep_alive(false);
      keep_alive_ = false;
      return write_response(res);
    }
    stream_.expires_never();
    std::make_shared<ws_session>(stream_.release_socket(), app_)->start(std::move(req));
    return;
  }
  handle(std::move(req));
}

void http_session::handle(http::request<http::string_body>&& req) {
  keep_alive_ = req.keep_alive() && !app_.stopping.load();
  answered_ = streaming_ = stream_done_ = false;
  chunks_.clear();
  current_ = std::make_shared<http_exchange>(weak_from_this(), next_id_++);
  self_ = shared_from_this();
  app_.open_exchanges.fetch_add(1);
  // A generation may take long: no timeout while the handler works; a vanished client is noticed
  // by watching the socket instead.
  stream_.expires_never();
  auto ex = current_;
  route_request(app_, ex, std::move(req));
  if (!answered_ && current_ == ex) watch_for_close();
}

void http_session::watch_for_close() {
  if (watching_) return;
  watching_ = true;
  // A peek, not async_wait(wait_read) + available(): Asio may complete a wait at once on
  // readiness left over from reading the request, and "readable, 0 bytes available" then
  // cancelled a live client's generation. A peek completes only on data, end of stream or error.
  stream_.socket().async_receive(net::buffer(&peek_byte_, 1), tcp::socket::message_peek,
                                 [self = shared_from_this(), ex = current_](beast::error_code ec, size_t) {
    self->watching_ = false;
    if (!self->current_) return;
    if (self->current_ != ex) {
      // A wait left over from an earlier exchange (the new request woke it): watch for the
      // current one instead.
      if (!ec) self->watch_for_close();
      return;
    }
    // End of stream or a reset: the client is gone. Data means a pipelined request: leave it
    // for the next read.
    if (ec) ex->cancel()->store(true);
  });
}

void http_session::exchange_respond(uint64_t id, http::response<http::string_body> res) {
  if (!current_ || current_->id() != id || answered_) return;
  answered_ = true;
  if (current_->cancel()->load()) return close();
  res.keep_alive(keep_alive_);
  write_response(std::make_shared<http::response<http::string_body>>(std::move(res)));
}

void http_session::write_response(std::shared_ptr<http::response<http::string_body>> res) {
  res->prepare_payload();
  stream_.expires_after(std::chrono::seconds(app_.config.idle_timeout_s));
  const bool keep_alive = res->keep_alive();
  http::async_write(stream_, *res, [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t n) {
    self->on_write(keep_alive, ec, n);
  });
}

void http_session::on_write(bool keep_alive, beast::error_code ec, size_t) {
  if (ec || !keep_alive || app_.stopping.load()) return close();
  finish_exchange(true);
}

void http_session::end_exchange() {
  if (!current_) return;
  current_->cancel()->store(true);  // no effect on a finished generation; frees an unfinished one
  current_.reset();
  app_.open_exchanges.fetch_sub(1);
  // Pending I/O (the next read, a write, a close) keeps the session alive from here on.
  net::post(stream_.get_executor(), [self = std::move(self_)] {});
}

void http_session::finish_exchange(bool keep_alive) {
  end_exchange();
  streaming_ = false;
  if (!keep_alive) return close();
  do_read();
}

void http_session::exchange_stream_begin(uint64_t id, http::response<http::empty_body> header) {
  if (!current_ || current_->id() != id || answered_) return;
  answered_ = streaming_ = true;
  header.keep_alive(keep_alive_);
  header.chunked(true);
  stream_header_ = std::make_shared<http::response<http::empty_body>>(std::move(header));
  stream_serializer_ = std::make_shared<http::response_serializer<http::empty_body>>(*stream_header_);
  writing_ = true;
  stream_.expires_after(std::chrono::seconds(app_.config.idle_timeout_s));
  http::async_write_header(stream_, *stream_serializer_,
                           [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_chunk_written(ec, n); });
}

void http_session::exchange_stream_write(uint64_t id, std::string data) {
  if (!current_ || current_->id() != id) return;
  // The first event may overtake the handler's stream_begin (they come from different threads):
  // whichever arrives first opens the stream with the event-stream header.
  if (!answered_) exchange_stream_begin(id, sse_header());
  if (!streaming_) return;
  chunks_.push_back(std::move(data));
  if (!writing_) write_next_chunk();
}

void http_session::exchange_stream_end(uint64_t id) {
  if (!current_ || current_->id() != id || !streaming_) return;
  stream_done_ = true;
  if (!writing_) write_next_chunk();
}

void http_session::write_next_chunk() {
  if (chunks_.empty()) {
    if (!stream_done_) return;
    writing_ = true;
    stream_done_ = false;
    net::async_write(stream_, http::make_chunk_last(),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->writing_ = false;
                       if (ec) return self->close();
                       self->finish_exchange(self->keep_alive_);
                     });
    return;
  }
  writing_ = true;
  in_flight_ = std::move(chunks_.front());
  chunks_.pop_front();
  // A reader that stops reading stalls this write; the timeout then ends the connection.
  stream_.expires_after(std::chrono::seconds(app_.config.idle_timeout_s));
  net::async_write(stream_, http::make_chunk(net::buffer(in_flight_)),
                   [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_chunk_written(ec, n); });
}

void http_session::on_chunk_written(beast::error_code ec, size_t) {
  writing_ = false;
  if (ec) {
    if (current_) current_->cancel()->store(true);
    return close();
  }
  if (!in_flight_.empty()) {
    in_flight_.clear();
    current_->backlog_counter()->fetch_sub(1, std::memory_order_relaxed);
  }
  write_next_chunk();
}

void http_session::close() {
  end_exchange();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

}  // namespace hearth

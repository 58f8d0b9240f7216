#include "http_session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/websocket.hpp>
#include <cerrno>
#include <limits>

#include "http_util.h"
#include "proto/ids.h"
#include "request_log.h"
#include "ws_session.h"

namespace hearth {

namespace {

// The read buffer holds a head and the start of what follows it; bodies go into the parser.
// Also bounds a chunk header or trailer section (Beast sets no limit of its own on those).
constexpr size_t buffer_limit = max_head_bytes + 16 * 1024;
constexpr size_t read_size = 16 * 1024;
// After a final answer that closes the connection, what the client still sends is read and
// dropped for a moment, so that closing does not reset the answer away (RFC 9112 9.6).
constexpr auto linger_time = std::chrono::seconds(2);
constexpr size_t linger_bytes = size_t{64} << 20;
constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

bool sane_request_id(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':';
         });
}

// A target as logged: without its query (which may carry anything), at most 200 bytes.
std::string logged_path(std::string_view target) {
  const std::string_view p = target.substr(0, target.find('?'));
  return p.size() > 200 ? std::string(p.substr(0, 200)) + "..." : std::string(p);
}

bool is_http_error(const beast::error_code& ec) {
  return &ec.category() == &beast::http::make_error_code(http::error::bad_chunk).category();
}

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR; }

// Whether the connection was reset (or timed out). After a FIN, recv() reports end of stream
// even once a reset has come, so the error and the TCP state are asked directly.
bool connection_failed(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) return true;
  tcp_info info{};
  len = sizeof info;
  return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state == TCP_CLOSE;
}

}  // namespace

http_session::http_session(tcp::socket&& socket, app& a, connection_slot slot)
    : socket_(std::move(socket)),
      deadline_(socket_.get_executor()),
      buffer_(buffer_limit),
      app_(a),
      slot_(std::move(slot)) {
  boost::system::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  if (!ec) peer_ = remote.address().to_string();
}

http_session::~http_session() {
  if (refusing_) refusing_->end_refusal();
}

void http_session::start() {
  net::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->await_request(); });
}

void http_session::refuse(http::response<http::string_body> refusal, std::shared_ptr<connection_limits> limits) {
  refusing_ = std::move(limits);
  net::dispatch(socket_.get_executor(), [self = shared_from_this(), res = std::move(refusal)]() mutable {
    self->req_.id = proto::new_id("req-");
    self->req_.keep_alive = false;
    self->answer(std::move(res));
  });
}

// --- reading a request -------------------------------------------------------------------------

size_t http_session::read_room() const { return std::min(read_size, buffer_.max_size() - buffer_.size()); }

void http_session::await_request() {
  if (app_.stopping.load()) return close_now();
  req_ = request_state{};
  route_ = nullptr;
  parser_.reset();
  finder_.emplace();
  answered_ = streaming_ = close_delimited_ = stream_done_ = false;
  chunks_.clear();
  if (buffer_.size() > 0) {  // a pipelined request has arrived already
    begin_request();
    arm_deadline(std::chrono::seconds(app_.config.header_timeout_s));
    return read_head();
  }
  arm_deadline(std::chrono::seconds(first_request_ ? app_.config.header_timeout_s : app_.config.idle_timeout_s));
  socket_.async_read_some(buffer_.prepare(read_room()),
                          beast::bind_front_handler(&http_session::on_first_bytes, shared_from_this()));
}

void http_session::on_first_bytes(beast::error_code ec, size_t n) {
  if (ec) return close_now();  // idle too long, or gone, before a request began: nothing to answer
  buffer_.commit(n);
  const bool first = first_request_;
  begin_request();
  // A new connection's header timeout runs from accept; a kept-alive one's from this byte.
  if (!first) arm_deadline(std::chrono::seconds(app_.config.header_timeout_s));
  read_head();
}

void http_session::begin_request() {
  req_.started = true;
  req_.begun = std::chrono::steady_clock::now();
  req_.id = proto::new_id("req-");
  first_request_ = false;
}

void http_session::read_head() {
  const std::string_view bytes(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  const head_boundary b = finder_->next(bytes);
  if (b.state == head_boundary::complete) return on_head(b.skip, b.end);
  if (b.state == head_boundary::refused || read_room() == 0) {
    if (auto line = peek_request_line(bytes)) {
      req_.method = std::string(line->first);
      req_.path = logged_path(line->second);
    }
    const head_refusal r = b.state == head_boundary::refused ? b.refusal : head_refusal{431, "the request head is too large"};
    return answer_and_close(r.status, r.message);
  }
  socket_.async_read_some(buffer_.prepare(read_room()),
                          beast::bind_front_handler(&http_session::on_head_bytes, shared_from_this()));
}

void http_session::on_head_bytes(beast::error_code ec, size_t n) {
  if (ec) return on_read_error(ec);
  buffer_.commit(n);
  read_head();
}

void http_session::on_head(size_t skip, size_t end) {
  const std::string_view head(static_cast<const char*>(buffer_.data().data()) + skip, end - skip);
  auto syntax = check_head_syntax(head);
  if (const auto* bad = std::get_if<head_refusal>(&syntax)) {
    if (auto line = peek_request_line(head)) {
      req_.method = std::string(line->first);
      req_.path = logged_path(line->second);
    }
    return answer_and_close(bad->status, bad->message);
  }
  admit(std::get<head_fields>(syntax), skip, end);
}

void http_session::admit(const head_fields& h, size_t skip, size_t end) {
  req_.method = std::string(h.method);
  req_.path = logged_path(h.target);
  req_.minor_version = h.minor_version;
  req_.head_method = h.method == "HEAD";
  if (const auto ids = h.values("x-request-id"); ids.size() == 1 && sane_request_id(ids[0])) req_.id = ids[0];
  if (const auto origins = h.values("origin"); origins.size() == 1) req_.origin = origins[0];
  if (auto bad = check_framing(h)) return answer_and_close(bad->status, bad->message);
  const auto target = parse_target(h.target);
  if (const auto* t = std::get_if<request_target>(&target)) req_.endpoint = endpoint_label(t->path);
  // Beast now parses the head that passed; the body, if any, it reads later. It knows HTTP/1.0
  // and 1.1 only: a later 1.x is read as 1.1 (RFC 9112 2.3), in place.
  if (h.minor_version > 1) {
    const_cast<char*>(h.version.data())[7] = '1';  // the view is into buffer_, which is ours
    req_.minor_version = 1;
  }
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(max_head_bytes + 1));
  // A Content-Length over the limit is admit_request's 413. (Not boost::none: Beast 1.74 compares
  // the length with the optional, and any length exceeds an empty one.)
  parser_->body_limit(std::numeric_limits<uint64_t>::max());
  beast::error_code ec;
  const size_t used = parser_->put(net::buffer(static_cast<const char*>(buffer_.data().data()) + skip, end - skip), ec);
  if (ec || used != end - skip || !parser_->is_header_done()) {
    return answer_and_close(400, "malformed request head" + (ec ? ": " + ec.message() : std::string()));
  }
  buffer_.consume(end);
  req_.keep_alive = parser_->get().keep_alive();
  parser_->body_limit(static_cast<uint64_t>(app_.config.body_limit));  // chunked bodies count as they come
  admission ad = admit_request(app_, parser_->get(), target);
  if (ad.answer) {
    // Its body stays unread; a refused upgrade leaves the client unsure what the connection speaks.
    if (!parser_->is_done() || ad.upgrade) req_.keep_alive = false;
    return answer(std::move(*ad.answer));
  }
  route_ = ad.to;
  if (ad.upgrade) return upgrade_to_websocket();
  if (parser_->is_done()) return dispatch();
  if (req_.minor_version >= 1 && beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
    arm_deadline(std::chrono::seconds(app_.config.idle_timeout_s));
    net::async_write(socket_, net::buffer(continue_line.data(), continue_line.size()),
                     [self = shared_from_this()](beast::error_code ec, size_t n) {
                       self->disarm_deadline();
                       self->req_.bytes += n;
                       if (ec) return self->close_now();
                       self->read_body();
                     });
    return;
  }
  read_body();
}

void http_session::read_body() {
  arm_deadline(std::chrono::seconds(app_.config.body_timeout_s));
  http::async_read(socket_, buffer_, *parser_, beast::bind_front_handler(&http_session::on_body, shared_from_this()));
}

void http_session::on_body(beast::error_code ec, size_t) {
  if (ec) return on_read_error(ec);
  dispatch();
}

void http_session::on_read_error(beast::error_code ec) {
  disarm_deadline();
  const bool in_body = parser_ && parser_->is_header_done();
  if (timed_out_) {
    return answer_and_close(408, in_body ? "the request body did not arrive within " + std::to_string(app_.config.body_timeout_s) +
                                               " s (--body-timeout)"
                                         : "the request head did not arrive within " +
                                               std::to_string(app_.config.header_timeout_s) + " s (--header-timeout)");
  }
  if (ec == net::error::eof || ec == http::error::partial_message || ec == http::error::end_of_stream) {
    return answer_and_close(400, "incomplete request: the client closed its side before the request ended");
  }
  if (ec == http::error::body_limit) {
    return answer_and_close(413, "request body exceeds the limit of " + std::to_string(app_.config.body_limit) + " bytes",
                            "body");
  }
  if (ec == http::error::buffer_overflow || ec == http::error::header_limit) {
    return answer_and_close(400, "a chunk header or trailer section exceeds " + std::to_string(buffer_limit) + " bytes");
  }
  if (is_http_error(ec)) return answer_and_close(400, "malformed request body: " + ec.message());
  close_now();  // the connection failed (reset): no one to answer
}

void http_session::upgrade_to_websocket() {
  disarm_deadline();
  req_.status = 101;
  end_request("");  // the handshake answer itself is the WebSocket session's
  closed_ = true;
  // The slot travels with the socket: it is given back when the WebSocket session is destroyed.
  std::shared_ptr<ws_session> ws(new ws_session(std::move(socket_), app_),
                                 [slot = std::move(slot_)](ws_session* p) mutable {
                                   delete p;
                                   slot.release();
                                 });
  ws->start(parser_->release());
}

void http_session::dispatch() {
  disarm_deadline();
  // A client that has finished sending can have no request after those already received.
  if (app_.stopping.load() || (peer_finished_ && buffer_.size() == 0)) req_.keep_alive = false;
  peer_data_pending_ = false;
  current_ = std::make_shared<http_exchange>(weak_from_this(), next_id_++, peer_);
  self_ = shared_from_this();
  app_.open_exchanges.fetch_add(1);
  auto ex = current_;
  dispatch_request(app_, ex, *route_, parser_->release());
  if (!answered_ && current_ == ex) watch_peer();
}

// --- deadlines ---------------------------------------------------------------------------------

void http_session::arm_deadline(std::chrono::seconds d) {
  timed_out_ = false;
  const uint64_t generation = ++deadline_generation_;
  deadline_.expires_after(d);
  deadline_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
    if (ec || generation != self->deadline_generation_) return;
    self->timed_out_ = true;
    beast::error_code ignored;
    self->socket_.cancel(ignored);  // the pending read or write completes with operation_aborted
  });
}

void http_session::disarm_deadline() {
  ++deadline_generation_;
  deadline_.cancel();
}

// --- answering ---------------------------------------------------------------------------------

void http_session::decorate(http::response_header<>& h) {
  h.version(11);
  h.set("x-request-id", req_.id);
  add_cors(app_, req_.origin, h);
  if (!req_.keep_alive) {
    h.set(http::field::connection, "close");
  } else if (req_.minor_version == 0) {
    h.set(http::field::connection, "keep-alive");  // HTTP/1.0 closes unless told
  } else {
    h.erase(http::field::connection);
  }
}

void http_session::answer(http::response<http::string_body> res) {
  if (closed_) return;
  answered_ = true;
  if (app_.stopping.load()) req_.keep_alive = false;
  decorate(res.base());
  res.prepare_payload();
  if (req_.head_method) res.body().clear();  // HEAD: GET's headers, Content-Length included, no body
  req_.status = res.result_int();
  auto sp = std::make_shared<http::response<http::string_body>>(std::move(res));
  writing_ = true;
  arm_deadline(std::chrono::seconds(app_.config.idle_timeout_s));  // a client that does not read
  http::async_write(socket_, *sp, [self = shared_from_this(), sp](beast::error_code ec, size_t n) {
    self->on_answer_written(ec, n);
  });
}

void http_session::answer_and_close(int status, const std::string& message, const std::string& param) {
  req_.keep_alive = false;
  answer(error_response(status, message, param));
}

bool http_session::write_done(beast::error_code ec, size_t n) {
  writing_ = false;
  disarm_deadline();
  req_.bytes += n;
  if (!ec) return true;
  if (current_) current_->cancel()->store(true);
  end_request(timed_out_ ? "write timed out" : "client gone");
  close_now();
  return false;
}

void http_session::on_answer_written(beast::error_code ec, size_t n) {
  if (!write_done(ec, n)) return;
  end_request("");
  next_or_close();
}

void http_session::next_or_close() {
  if (req_.keep_alive && !app_.stopping.load() && (!peer_finished_ || buffer_.size() > 0)) return await_request();
  close_gracefully();
}

void http_session::end_request(std::string_view outcome) {
  if (req_.started) {
    req_.started = false;
    record_request(app_, {req_.id, req_.method, req_.path, req_.endpoint, req_.status, req_.bytes,
                          std::chrono::steady_clock::now() - req_.begun, outcome, req_.detail});
  }
  if (!current_) return;
  current_->cancel()->store(true);  // no effect on a finished generation; frees an unfinished one
  current_.reset();
  app_.open_exchanges.fetch_sub(1);
  // Pending I/O (the next read, a write, a close) keeps the session alive from here on.
  net::post(socket_.get_executor(), [self = std::move(self_)] {});
}

void http_session::exchange_respond(uint64_t id, http::response<http::string_body> res) {
  if (!current_ || current_->id() != id || answered_) return;
  answer(std::move(res));
}

void http_session::exchange_log_detail(uint64_t id, std::string detail) {
  if (current_ && current_->id() == id) req_.detail = std::move(detail);
}

void http_session::exchange_stream_begin(uint64_t id, http::response<http::empty_body> header) {
  if (!current_ || current_->id() != id || answered_) return;
  answered_ = streaming_ = true;
  if (app_.stopping.load()) req_.keep_alive = false;
  // HTTP/1.0 has no chunked coding: the stream goes out as it is and the close ends it.
  close_delimited_ = req_.minor_version == 0;
  if (close_delimited_) req_.keep_alive = false;
  decorate(header.base());
  header.chunked(!close_delimited_);
  req_.status = header.result_int();
  stream_header_ = std::make_shared<http::response<http::empty_body>>(std::move(header));
  stream_serializer_ = std::make_shared<http::response_serializer<http::empty_body>>(*stream_header_);
  writing_ = true;
  arm_deadline(std::chrono::seconds(app_.config.idle_timeout_s));
  http::async_write_header(socket_, *stream_serializer_,
                           [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_chunk_written(ec, n); });
}

void http_session::exchange_stream_write(uint64_t id, std::string data) {
  if (!current_ || current_->id() != id) return;
  // The first event may overtake the handler's stream_begin (they come from different threads):
  // whichever arrives first opens the stream with the event-stream header.
  if (!answered_) exchange_stream_begin(id, sse_header());
  if (!streaming_) return;
  if (data.empty()) {  // an empty chunk would end the stream
    current_->backlog_counter()->fetch_sub(1, std::memory_order_relaxed);
    return;
  }
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
    stream_done_ = false;
    if (close_delimited_) {
      end_request("");
      return close_gracefully();
    }
    writing_ = true;
    arm_deadline(std::chrono::seconds(app_.config.idle_timeout_s));
    net::async_write(socket_, http::make_chunk_last(),
                     [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_answer_written(ec, n); });
    return;
  }
  writing_ = true;
  in_flight_ = std::move(chunks_.front());
  chunks_.pop_front();
  // A reader that stops reading stalls this write; the deadline then ends the connection.
  arm_deadline(std::chrono::seconds(app_.config.idle_timeout_s));
  auto done = [self = shared_from_this()](beast::error_code ec, size_t n) { self->on_chunk_written(ec, n); };
  if (close_delimited_) {
    net::async_write(socket_, net::buffer(in_flight_), std::move(done));
  } else {
    net::async_write(socket_, http::make_chunk(net::buffer(in_flight_)), std::move(done));
  }
}

void http_session::on_chunk_written(beast::error_code ec, size_t n) {
  if (!write_done(ec, n)) return;
  if (!in_flight_.empty()) {
    in_flight_.clear();
    if (current_) current_->backlog_counter()->fetch_sub(1, std::memory_order_relaxed);
  }
  write_next_chunk();
}

// --- the client while its answer is pending ----------------------------------------------------
//
// A FIN from the client only says it has finished sending: a client that half-closes after its
// request (shutdown(SHUT_WR)) is waiting for the answer, and gets it. Only a reset or a failed
// write means the client is gone, and then its generation is cancelled.
//
// But a client that closed its socket entirely also sends just a FIN, and a generation for a
// client that left should not run on. The two are told apart by sending something: a closed
// socket answers data with a reset at once, a half-closed one accepts it.
// - Streams send events anyway: the first event after a full close brings the reset, which the
//   error watch below (or the next write) sees, so a vanished stream is cancelled promptly.
// - A whole (non-streamed) answer to HTTP/1.1 gets, when the FIN arrives, one interim
//   "100 Continue": RFC 9110 15.2 requires clients to accept 1xx responses they did not ask for
//   (and every common client skips a 100). A closed socket resets, and the generation stops.
// - HTTP/1.0 clients must not get a 1xx, and a host that vanished sends nothing at all: for
//   those, TCP keepalive probes (enabled at the FIN) end the wait with an error, though only
//   after the client's kernel has dropped its side of the connection (~60 s on Linux). Until
//   then such a generation runs on, bounded by its max_tokens.

void http_session::watch_peer() {
  arm_peer_waits();
  examine_peer();
}

// The reactor reports readiness by edges and these waits only see edges that come after them:
// so each is armed before the socket is examined (or probed), never after.
void http_session::arm_peer_waits() {
  if (closed_ || !current_) return;
  if (!peer_finished_ && !peer_data_pending_ && !watching_read_) {
    watching_read_ = true;
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      self->watching_read_ = false;
      if (ec != net::error::operation_aborted) self->watch_peer();
    });
  }
  if ((peer_finished_ || peer_data_pending_) && !watching_error_) {
    watching_error_ = true;
    socket_.async_wait(tcp::socket::wait_error, [self = shared_from_this()](beast::error_code ec) {
      self->watching_error_ = false;
      if (ec != net::error::operation_aborted) self->watch_peer();
    });
  }
}

void http_session::examine_peer() {
  if (closed_ || !current_) return;
  char c;
  const int fd = socket_.native_handle();
  const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if ((n < 0 && !would_block()) || connection_failed(fd)) return peer_gone();
  if (n == 0 && !peer_finished_) return on_peer_finished_sending();
  if (n > 0 && !peer_data_pending_) {
    // A pipelined request waits in the socket for the next read; until then only a reset is news.
    peer_data_pending_ = true;
    arm_peer_waits();
  }
}

void http_session::on_peer_finished_sending() {
  peer_finished_ = true;
  if (buffer_.size() == 0) req_.keep_alive = false;  // no further request can come
  const int fd = socket_.native_handle();
  const int on = 1, idle_s = 5, interval_s = 2, probes = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof interval_s);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
  arm_peer_waits();  // the error wait, in place before the probe can bring a reset
  if (!answered_ && req_.minor_version >= 1) {
    // Nothing of the answer is in flight, so the send buffer is empty and takes these bytes whole.
    const ssize_t n = ::send(fd, continue_line.data(), continue_line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) req_.bytes += static_cast<uint64_t>(n);
    if ((n < 0 && !would_block()) || (n > 0 && static_cast<size_t>(n) < continue_line.size())) return peer_gone();
  }
}

void http_session::peer_gone() {
  if (current_) current_->cancel()->store(true);
  end_request("client gone");
  close_now();
}

// --- closing -----------------------------------------------------------------------------------

void http_session::close_now() {
  if (closed_) return;
  closed_ = true;
  disarm_deadline();
  end_request("connection lost");
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  slot_.release();
}

void http_session::close_gracefully() {
  if (closed_) return;
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return close_now();
  arm_deadline(linger_time);
  drained_ = 0;
  drain();
}

void http_session::drain() {
  buffer_.clear();
  socket_.async_read_some(buffer_.prepare(read_room()), [self = shared_from_this()](beast::error_code ec, size_t n) {
    self->drained_ += n;
    if (ec || self->drained_ > linger_bytes) return self->close_now();
    self->drain();
  });
}

}  // namespace hearth

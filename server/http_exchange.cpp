#include "http_exchange.h"

#include <boost/asio/post.hpp>

#include "http_session.h"

namespace hearth {

http_exchange::http_exchange(std::weak_ptr<http_session> session, uint64_t id, std::string peer)
    : session_(std::move(session)),
      id_(id),
      peer_(std::move(peer)),
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

void http_exchange::log_detail(std::string detail) {
  if (auto s = session_.lock()) {
    net::post(s->executor(), [s, id = id_, d = std::move(detail)]() mutable { s->exchange_log_detail(id, std::move(d)); });
  }
}

}  // namespace hearth

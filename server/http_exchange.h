#pragma once
// One HTTP request and its response, as handlers see it. A handler answers exactly once: either
// respond() with a whole response, or stream_begin(), any number of stream_write(), stream_end().
// It may answer at once or later from any thread (e.g. when a generation finishes): every call
// is posted onto the connection's strand, in order. Calls after the connection is gone are
// dropped.
#include <boost/beast/http.hpp>
#include <atomic>
#include <memory>
#include <string>

#include "scheduler.h"

namespace hearth {

namespace http = boost::beast::http;

class http_session;

// Where one answer goes: an HTTP exchange, or one choice's part of it (choice_group.h). The
// calls follow http_exchange's contract below.
class answer_channel {
 public:
  virtual ~answer_channel() = default;
  virtual void respond(http::response<http::string_body> res) = 0;
  virtual void stream_begin(http::response<http::empty_body> header) = 0;
  virtual void stream_write(std::string data) = 0;
  virtual void stream_end() = 0;
  virtual void log_detail(std::string detail) = 0;
  virtual const cancel_flag& cancel() const = 0;
  virtual int64_t backlog() const = 0;
};

class http_exchange final : public answer_channel {
 public:
  // `peer`: the client's address (fair shares: routes.h client_of).
  http_exchange(std::weak_ptr<http_session> session, uint64_t id, std::string peer);

  void respond(http::response<http::string_body> res) override;
  void stream_begin(http::response<http::empty_body> header) override;
  void stream_write(std::string data) override;
  void stream_end() override;
  // What the request log adds to this request's line (a generation's summary). Call before the
  // final respond()/stream_end() for it to appear.
  void log_detail(std::string detail) override;

  // Set when the client is gone (a reset, or a failed write) before the answer is complete.
  const cancel_flag& cancel() const override { return cancel_; }
  // Stream data handed to stream_write() but not yet written to the socket.
  int64_t backlog() const override { return backlog_->load(std::memory_order_relaxed); }

  uint64_t id() const { return id_; }
  const std::string& peer() const { return peer_; }
  const std::shared_ptr<std::atomic<int64_t>>& backlog_counter() const { return backlog_; }

 private:
  std::weak_ptr<http_session> session_;
  uint64_t id_;
  std::string peer_;
  cancel_flag cancel_;
  std::shared_ptr<std::atomic<int64_t>> backlog_;
};

}  // namespace hearth

#include "ws_session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>

#include "generation_setup.h"
#include "proto/generation_json.h"
#include "routes.h"
#include "version.h"

namespace hearth {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;

namespace {

// One line per WebSocket generation with the status its last message carries (no prompt text
// unless --log-prompts). A stand-in until the HTTP request log offers one function for both.
void log_ws_generation(const app& a, int status, const finish_event& e, bool overflowed) {
  if (!a.config.log_requests) return;
  std::fprintf(stderr,
               "WS /v1/ws %d %s prompt=%d completion=%d queue=%.0fms prefill=%.0fms generate=%.0fms%s\n",
               status, std::string(proto::to_string(e.reason)).c_str(), e.usage.prompt_tokens,
               e.usage.completion_tokens, e.timings.queue_ms, e.timings.prompt_ms, e.timings.predicted_ms,
               overflowed ? " (stream backlog)" : "");
}

// Messages of one generation, from the scheduler thread to the socket's strand.
class ws_sink final : public token_sink {
 public:
  ws_sink(app& a, std::shared_ptr<ws_session> ws, std::string id, cancel_flag cancel)
      : app_(a), ws_(ws), exec_(ws->executor()), id_(std::move(id)), cancel_(std::move(cancel)),
        backlog_(ws->backlog()) {}

  void on_queued(int64_t position, double estimated_start_s) override {
    post(proto::ws_queued_event(id_, position, estimated_start_s), false);
  }

  void on_steered(const steer_result& r) override {
    if (r.error.empty()) return post(proto::ws_ack_event(id_, r.kind), false);
    const std::string_view param = r.kind == steer_kind::append ? "text" : r.code.empty() ? "" : "max_tokens";
    post(proto::ws_steer_error_event(id_, r.kind, proto::api_error{400, r.error, "invalid_request_error", std::string(param), r.code}),
         false);
  }

  // Refused (not sent, not counted) once the client cancelled or its outbox is over the bounds.
  bool on_token(const token_event& e) override {
    if (cancel_->load(std::memory_order_relaxed)) return false;
    if (backlog_->over(app_.config.max_stream_backlog, app_.config.max_stream_backlog_bytes)) {
      overflowed_ = true;
      return false;
    }
    // Posted means taken, and counted: a cancel arriving from now on ends the generation at the
    // next token (or the scheduler's next step), never un-counts this one.
    post(proto::ws_token_event(id_, e.text, e.id, e.logprobs ? &*e.logprobs : nullptr), false);
    return true;
  }

  void on_finish(const finish_event& e) override {
    nlohmann::json last;
    int status = 200;
    if (overflowed_) {
      status = 500;
      last = proto::ws_error_event(
          id_, proto::api_error{500,
                                "the client read too slowly; the generation was ended after " +
                                    std::to_string(app_.config.max_stream_backlog) + " messages or " +
                                    std::to_string(app_.config.max_stream_backlog_bytes) + " bytes went undelivered",
                                "server_error", "", "stream_backlog"});
    } else if (e.reason == proto::finish_reason::error) {
      status = 500;
      last = proto::ws_error_event(id_, proto::api_error{500, "generation failed: " + e.error, "server_error", "", ""});
    } else if (e.reason == proto::finish_reason::shutdown) {
      status = 503;
      last = proto::ws_error_event(id_, proto::shutdown_error());
    } else {
      last = proto::ws_done_event(id_, e.reason, e.usage, e.timings, e.text);
    }
    app_.stats.count_request("/v1/ws", status);
    log_ws_generation(app_, status, e, overflowed_);
    post(last, true);
  }

 private:
  void post(const nlohmann::json& event, bool last) {
    std::string message = proto::serialize(event);
    backlog_->add(message.size());
    net::post(exec_, [ws = ws_, backlog = backlog_, id = id_, m = std::move(message), last]() mutable {
      auto s = ws.lock();
      if (!s) return backlog->remove(m.size());
      s->send(std::move(m));
      if (last) s->generation_done(id);
    });
  }

  app& app_;
  std::weak_ptr<ws_session> ws_;
  net::any_io_executor exec_;
  std::string id_;
  cancel_flag cancel_;
  std::shared_ptr<ws_backlog> backlog_;
  bool overflowed_ = false;
};

}  // namespace

ws_session::ws_session(net::ip::tcp::socket&& socket, app& a) : ws_(std::move(socket)), app_(a) {}

ws_session::~ws_session() {
  // Generations whose last message found the session gone still count as answered.
  cancel_all();
  app_.open_exchanges.fetch_sub(static_cast<int64_t>(active_.size()));
  app_.websockets.remove(this);
}

void ws_session::start(beast::http::request<beast::http::string_body> req) {
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  // A key offered as a subprotocol (already checked) must be echoed for the browser to proceed.
  std::string protocol;
  if (auto key = websocket_key_protocol(req)) protocol = "hearth.bearer." + std::string(*key);
  cache_partition_ = cache_partition(app_, req);
  boost::system::error_code ec;
  const auto remote = beast::get_lowest_layer(ws_).socket().remote_endpoint(ec);
  client_ = client_of(app_, req, ec ? std::string() : remote.address().to_string());
  ws_.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& res) {
    res.set(beast::http::field::server, "hearth/" HEARTH_VERSION);
    if (!protocol.empty()) res.set(beast::http::field::sec_websocket_protocol, protocol);
  }));
  ws_.read_message_max(static_cast<size_t>(app_.config.body_limit));
  ws_.text(true);
  ws_.async_accept(req, beast::bind_front_handler(&ws_session::on_accept, shared_from_this()));
}

void ws_session::on_accept(beast::error_code ec) {
  if (ec) return;
  app_.websockets.add(shared_from_this());
  do_read();
}

void ws_session::do_read() {
  if (reading_ || closed_) return;
  reading_ = true;
  ws_.async_read(buffer_, beast::bind_front_handler(&ws_session::on_read, shared_from_this()));
}

// Half of both bounds: where reading resumes after backpressure.
bool ws_session::backlog_over(int64_t divisor) const {
  return backlog_->over(app_.config.max_stream_backlog / divisor, app_.config.max_stream_backlog_bytes / divisor);
}

void ws_session::on_read(beast::error_code ec, size_t) {
  reading_ = false;
  if (ec) return on_closed();
  std::string text = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  // One large message must not pin its buffer for the life of the connection.
  if (buffer_.capacity() > 64 * 1024) buffer_.shrink_to_fit();
  // Once the session is going away (its last messages queued, Close 1001 to follow), messages
  // are read (to see the peer's Close) but not answered: the Close frame is the answer.
  if (!going_away_) handle_message(text);
  // Backpressure: the next message is read once the client has read enough (see on_write).
  if (!backlog_over()) do_read();
}

void ws_session::handle_message(std::string_view text) {
  if (app_.stopping.load()) return reply(proto::ws_error_event("", proto::shutdown_error()));
  auto msg = proto::parse_ws_message(text, model_limits(app_));
  if (auto* err = std::get_if<proto::ws_error>(&msg)) {
    reply(proto::ws_error_event(err->id, err->error));
  } else if (auto* steer = std::get_if<proto::ws_steer>(&msg)) {
    steer_generation(std::move(*steer));
  } else if (auto* cancel = std::get_if<proto::ws_cancel>(&msg)) {
    auto it = active_.find(cancel->id);
    if (it != active_.end()) {
      it->second.cancel->store(true);
    } else {
      // The id travels in the message's "id" field; the text does not repeat it.
      reply(proto::ws_error_event(cancel->id, proto::bad_request("id", "no generation with this id is running")));
    }
  } else {
    start_generation(std::move(std::get<proto::ws_generate>(msg)));
  }
}

void ws_session::steer_generation(proto::ws_steer m) {
  const auto it = active_.find(m.id);
  if (it == active_.end()) {
    return reply(proto::ws_steer_error_event(m.id, m.op, proto::bad_request("id", "no generation with this id is running")));
  }
  steer_op op{m.op, std::move(m.update), {}};
  if (m.op == steer_kind::append) {
    // Input that continues the sequence: no BOS.
    op.tokens = m.tokens ? std::move(*m.tokens) : app_.vocabulary->tokenize(*m.text, false, false);
    if (op.tokens.empty()) {
      return reply(proto::ws_steer_error_event(m.id, m.op, proto::bad_request("text", "the text has no tokens")));
    }
  }
  app_.engine_scheduler->steer(*it->second.steer, std::move(op));
}

void ws_session::start_generation(proto::ws_generate g) {
  auto refuse = [&](const proto::api_error& e) {
    app_.stats.count_request("/v1/ws", e.status);
    reply(proto::ws_error_event(g.id, e));
  };
  if (active_.count(g.id)) {
    return refuse(proto::bad_request("id", "a generation with this id is already running"));
  }
  const proto::generate_request& r = g.request;
  auto made = make_generation(app_, tokenize_prompt(app_, r.prompt, r.tokens), r.max_tokens, r.sampling, r.stop,
                              std::make_shared<std::atomic<bool>>(false), r.overflow);
  if (auto* e = std::get_if<proto::api_error>(&made)) return refuse(*e);
  generation_request& req = std::get<generation_request>(made);
  req.top_logprobs = r.top_logprobs;
  req.constraint = r.constraint;
  req.cache_partition = cache_partition_;
  req.client = client_;
  req.cache = r.cache;
  req.speculative = r.speculative;
  req.steer = std::make_shared<steering_box>();
  const std::shared_ptr<steering_box> box = req.steer;
  if (r.deadline_ms) {
    req.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(*r.deadline_ms);
    req.deadline_tokens = r.max_tokens.value_or(1);
  }
  const cancel_flag flag = req.cancel;
  const size_t n_prompt = req.prompt.size();
  const int32_t max_tokens = req.max_tokens;
  auto sink = std::make_shared<ws_sink>(app_, shared_from_this(), g.id, flag);
  submit_estimate estimate;
  const submit_status s = app_.engine_scheduler->submit(std::move(req), sink, &estimate);
  if (s == submit_status::late) return refuse(late_error(estimate, *r.deadline_ms));
  if (s != submit_status::accepted) return refuse(refusal(app_, s, n_prompt, max_tokens));
  active_.emplace(g.id, generation_handle{flag, box});
  app_.open_exchanges.fetch_add(1);
}

void ws_session::reply(const nlohmann::json& event) {
  std::string message = proto::serialize(event);
  backlog_->add(message.size());
  send(std::move(message));
}

void ws_session::send(std::string message) {
  if (closed_ || closing_) return backlog_->remove(message.size());
  outbox_.push_back(std::move(message));
  if (!writing_) write_next();
}

void ws_session::generation_done(const std::string& id) {
  if (active_.erase(id)) app_.open_exchanges.fetch_sub(1);
}

void ws_session::go_away() {
  going_away_ = true;
  close_when_flushed();
}

void ws_session::write_next() {
  if (outbox_.empty() || closed_) return close_when_flushed();
  writing_ = true;
  ws_.async_write(net::buffer(outbox_.front()), beast::bind_front_handler(&ws_session::on_write, shared_from_this()));
}

void ws_session::on_write(beast::error_code ec, size_t) {
  writing_ = false;
  backlog_->remove(outbox_.front().size());
  outbox_.pop_front();
  if (ec) return on_closed();
  if (!reading_ && !closing_ && !backlog_over(2)) do_read();
  write_next();
}

void ws_session::close_when_flushed() {
  if (!going_away_ || closing_ || closed_ || writing_ || !outbox_.empty()) return;
  closing_ = true;
  ws_.async_close(websocket::close_reason(websocket::close_code::going_away, "the server is shutting down"),
                  [self = shared_from_this()](beast::error_code) { self->app_.websockets.remove(self.get()); });
  // The peer's Close comes back through the read; it must be pending even under backpressure.
  do_read();
}

void ws_session::on_closed() {
  if (closed_) return;
  closed_ = true;
  cancel_all();
  // Nothing queued will ever be read: free it now (the message being written stays until its
  // handler runs), and end a write that a client which stopped reading would leave pending.
  const size_t keep = writing_ ? 1 : 0;
  while (outbox_.size() > keep) {
    backlog_->remove(outbox_.back().size());
    outbox_.pop_back();
  }
  outbox_.shrink_to_fit();
  beast::get_lowest_layer(ws_).close();
  app_.websockets.remove(this);
}

void ws_session::cancel_all() {
  for (auto& [id, g] : active_) g.cancel->store(true);
}

}  // namespace hearth

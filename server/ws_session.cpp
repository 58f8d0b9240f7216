#include "ws_session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "generation_setup.h"
#include "routes.h"
#include "version.h"

namespace hearth {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace websocket = beast::websocket;

namespace {

// Messages of one generation, from the scheduler thread to the socket's strand.
class ws_sink final : public token_sink {
 public:
  ws_sink(app& a, std::shared_ptr<ws_session> ws, std::string id, cancel_flag cancel)
      : app_(a), ws_(ws), exec_(ws->executor()), id_(std::move(id)), cancel_(std::move(cancel)),
        backlog_(ws->backlog_counter()) {}

  // The token is counted in the done event's usage, so it is sent even when a cancel has
  // arrived (as the HTTP streams do); then the generation stops.
  bool on_token(const token_event& e) override {
    if (backlog_->load(std::memory_order_relaxed) > app_.config.max_stream_backlog) {
      overflowed_ = true;
      return false;
    }
    post(proto::ws_token_event(id_, e.text, e.id), false);
    return !cancel_->load(std::memory_order_relaxed);
  }

  void on_finish(const finish_event& e) override {
    app_.stats.count_request("/v1/ws", e.reason == proto::finish_reason::error ? 500 : 200);
    if (overflowed_ || e.reason == proto::finish_reason::error) {
      std::string why = overflowed_ ? "the client read too slowly; the generation was ended after " +
                                          std::to_string(app_.config.max_stream_backlog) + " undelivered messages"
                                    : "generation failed: " + e.error;
      post(proto::ws_error_event(id_, proto::api_error{500, why, "server_error", "", overflowed_ ? "stream_backlog" : ""}),
           true);
      return;
    }
    post(proto::ws_done_event(id_, e.reason, e.usage, e.timings, e.text), true);
  }

 private:
  void post(const nlohmann::json& event, bool last) {
    std::string message = proto::serialize(event);
    backlog_->fetch_add(1, std::memory_order_relaxed);
    net::post(exec_, [ws = ws_, id = id_, m = std::move(message), last]() mutable {
      if (auto s = ws.lock()) {
        s->send(id, std::move(m));
        if (last) s->generation_done(id);
      }
    });
  }

  app& app_;
  std::weak_ptr<ws_session> ws_;
  net::any_io_executor exec_;
  std::string id_;
  cancel_flag cancel_;
  std::shared_ptr<std::atomic<int64_t>> backlog_;
  bool overflowed_ = false;
};

}  // namespace

ws_session::ws_session(net::ip::tcp::socket&& socket, app& a) : ws_(std::move(socket)), app_(a) {}

ws_session::~ws_session() {
  // Generations whose last message found the session gone still count as answered.
  cancel_all();
  app_.open_exchanges.fetch_sub(static_cast<int64_t>(active_.size()));
}

void ws_session::start(beast::http::request<beast::http::string_body> req) {
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  // A key offered as a subprotocol (already checked) must be echoed for the browser to proceed.
  std::string protocol;
  if (auto key = websocket_key_protocol(req)) protocol = "hearth.bearer." + std::string(*key);
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
  do_read();
}

void ws_session::do_read() {
  ws_.async_read(buffer_, beast::bind_front_handler(&ws_session::on_read, shared_from_this()));
}

void ws_session::on_read(beast::error_code ec, size_t) {
  if (ec) {
    closed_ = true;
    return cancel_all();
  }
  std::string text = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  handle_message(text);
  do_read();
}

void ws_session::handle_message(std::string_view text) {
  if (app_.stopping.load()) {
    reply("", proto::ws_error_event("", proto::api_error{503, "the server is shutting down", "server_error", "", ""}));
    return;
  }
  auto msg = proto::parse_ws_message(text, model_limits(app_));
  if (auto* err = std::get_if<proto::ws_error>(&msg)) {
    reply(err->id, proto::ws_error_event(err->id, err->error));
  } else if (auto* cancel = std::get_if<proto::ws_cancel>(&msg)) {
    auto it = active_.find(cancel->id);
    if (it != active_.end()) {
      it->second->store(true);
    } else {
      reply(cancel->id, proto::ws_error_event(cancel->id, proto::api_error{400, "no generation with id '" + cancel->id +
                                                                             "' is running", "invalid_request_error",
                                                                     "id", ""})
                           );
    }
  } else {
    start_generation(std::move(std::get<proto::ws_generate>(msg)));
  }
}

void ws_session::start_generation(proto::ws_generate g) {
  auto refuse = [&](const proto::api_error& e) {
    app_.stats.count_request("/v1/ws", e.status);
    reply(g.id, proto::ws_error_event(g.id, e));
  };
  if (active_.count(g.id)) {
    return refuse(proto::bad_request("id", "a generation with id '" + g.id + "' is already running"));
  }
  const proto::generate_request& r = g.request;
  auto made = make_generation(app_, tokenize_prompt(app_, r.prompt, r.tokens), r.max_tokens, r.sampling, r.stop,
                              std::make_shared<std::atomic<bool>>(false));
  if (auto* e = std::get_if<proto::api_error>(&made)) return refuse(*e);
  generation_request& req = std::get<generation_request>(made);
  const cancel_flag flag = req.cancel;
  const size_t n_prompt = req.prompt.size();
  const int32_t max_tokens = req.max_tokens;
  auto sink = std::make_shared<ws_sink>(app_, shared_from_this(), g.id, flag);
  const submit_status s = app_.engine_scheduler->submit(std::move(req), sink);
  if (s != submit_status::accepted) return refuse(refusal(app_, s, n_prompt, max_tokens));
  active_.emplace(g.id, flag);
  app_.open_exchanges.fetch_add(1);
}

void ws_session::send(const std::string&, std::string message) {
  if (closed_) {
    backlog_->fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  outbox_.push_back(std::move(message));
  if (!writing_) write_next();
}

void ws_session::reply(const std::string& id, const nlohmann::json& event) {
  backlog_->fetch_add(1, std::memory_order_relaxed);
  send(id, proto::serialize(event));
}

void ws_session::generation_done(const std::string& id) {
  if (active_.erase(id)) app_.open_exchanges.fetch_sub(1);
}

void ws_session::write_next() {
  if (outbox_.empty() || closed_) return;
  writing_ = true;
  ws_.async_write(net::buffer(outbox_.front()), beast::bind_front_handler(&ws_session::on_write, shared_from_this()));
}

void ws_session::on_write(beast::error_code ec, size_t) {
  writing_ = false;
  outbox_.pop_front();
  backlog_->fetch_sub(1, std::memory_order_relaxed);
  if (ec) {
    closed_ = true;
    return cancel_all();
  }
  write_next();
}

void ws_session::cancel_all() {
  for (auto& [id, flag] : active_) flag->store(true);
}

}  // namespace hearth

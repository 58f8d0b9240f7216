#pragma once
// A synchronous WebSocket client (Boost.Beast) for the /v1/ws tests. One client per thread.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server_process.h"

namespace hearth::test {

class ws_client {
 public:
  // Connects and completes the handshake; throws if the server refuses it.
  explicit ws_client(int port, const std::string& origin = "", const std::string& protocol = "") : ws_(ioc_) {
    namespace beast = boost::beast;
    namespace websocket = beast::websocket;
    boost::asio::ip::tcp::resolver resolver(ioc_);
    boost::asio::connect(ws_.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
    ws_.set_option(websocket::stream_base::decorator([origin, protocol](websocket::request_type& r) {
      if (!origin.empty()) r.set(beast::http::field::origin, origin);
      if (!protocol.empty()) r.set(beast::http::field::sec_websocket_protocol, protocol);
    }));
    websocket::response_type res;
    ws_.handshake(res, "127.0.0.1:" + std::to_string(port), "/v1/ws");
    accepted_protocol = std::string(res[beast::http::field::sec_websocket_protocol]);
  }
  std::string accepted_protocol;
  void send(const nlohmann::json& j) { ws_.write(boost::asio::buffer(j.dump())); }
  void send_raw(const std::string& s) { ws_.write(boost::asio::buffer(s)); }
  // The next message, skipping "queued" ones (a generation's place while it waits: timing, not
  // content); every one of them is kept in `queued`.
  nlohmann::json recv() {
    for (;;) {
      nlohmann::json m = recv_any();
      if (!m.is_object() || m.value("type", "") != "queued") return m;
      queued.push_back(std::move(m));
    }
  }
  nlohmann::json recv_any() {
    boost::beast::flat_buffer b;
    ws_.read(b);
    return nlohmann::json::parse(boost::beast::buffers_to_string(b.data()));
  }
  std::vector<nlohmann::json> queued;
  // Reads messages (appended to `messages`) until the connection ends; returns the code of the
  // server's Close frame, or 1006 (as browsers report it) if the connection dropped without one.
  int read_until_close(std::vector<nlohmann::json>& messages) {
    try {
      for (;;) messages.push_back(recv());
    } catch (const boost::beast::system_error& e) {
      if (e.code() == boost::beast::websocket::error::closed) return ws_.reason().code;
      return 1006;
    }
  }
  std::string close_reason() const { return std::string(ws_.reason().reason.c_str()); }
  void drop() { ws_.next_layer().close(); }

 private:
  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
};

}  // namespace hearth::test

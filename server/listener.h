#pragma once
// Accepts TCP connections on every address the configured host means and starts an
// http_session for each, on its own strand.
//
// Connections over --max-connections (in total) or --max-connections-per-peer (from one client
// address) are answered 503 with an error body and "Connection: close", then closed; when many
// such refusals are already being written, further ones are closed without an answer (a flood
// must not hold descriptors through its refusals). When accept() itself fails for want of file
// descriptors or memory nothing can be written: the listener pauses (50 ms, doubling up to
// 500 ms) and the connections wait in the kernel's listen backlog until descriptors free up.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "app.h"
#include "connection_limits.h"

namespace hearth {

class listener : public std::enable_shared_from_this<listener> {
 public:
  // Binds and listens on every address `host` names: an IP address, or "localhost" (127.0.0.1,
  // and ::1 where the machine has IPv6 loopback); names are not looked up (no DNS). Port 0: one
  // free port, the same on every address. Throws std::runtime_error naming what failed.
  listener(boost::asio::io_context& ioc, const std::string& host, int port, app& a);
  void start();
  void stop();  // stops accepting; thread-safe
  std::vector<boost::asio::ip::tcp::endpoint> local_endpoints() const;

 private:
  struct acceptor_state {
    explicit acceptor_state(boost::asio::io_context& ioc);
    boost::asio::ip::tcp::acceptor acceptor;
    boost::asio::steady_timer pause;
    std::chrono::milliseconds backoff{0};
  };

  void bind_all(const std::vector<boost::asio::ip::address>& addresses, int port);
  void do_accept(size_t i);
  void on_accept(size_t i, boost::system::error_code ec, boost::asio::ip::tcp::socket s);
  void pause_after(size_t i, const boost::system::error_code& ec);
  void admit(boost::asio::ip::tcp::socket s);

  boost::asio::io_context& ioc_;
  std::vector<std::unique_ptr<acceptor_state>> acceptors_;
  app& app_;
  std::shared_ptr<connection_limits> limits_;
};

}  // namespace hearth

#pragma once
// Accepts TCP connections and starts an http_session for each, on its own strand.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>

#include "app.h"

namespace hearth {

class listener : public std::enable_shared_from_this<listener> {
 public:
  // Binds and listens; throws boost::system::system_error (e.g. address in use).
  listener(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& endpoint, app& a);
  void start();
  void stop();  // stops accepting; thread-safe
  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void do_accept();

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  app& app_;
};

}  // namespace hearth

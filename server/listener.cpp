#include "listener.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>

#include "http_session.h"

namespace hearth {

listener::listener(net::io_context& ioc, const tcp::endpoint& endpoint, app& a)
    : ioc_(ioc), acceptor_(net::make_strand(ioc)), app_(a) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
}

void listener::start() { do_accept(); }

void listener::stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->acceptor_.close(ec);
  });
}

void listener::do_accept() {
  acceptor_.async_accept(net::make_strand(ioc_), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
    if (ec == net::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (!ec) {
      beast::error_code opt;
      s.set_option(tcp::no_delay(true), opt);
      if (self->app_.config.send_buffer > 0) s.set_option(net::socket_base::send_buffer_size(self->app_.config.send_buffer), opt);
      std::make_shared<http_session>(std::move(s), self->app_)->start();
    }
    self->do_accept();
  });
}

}  // namespace hearth

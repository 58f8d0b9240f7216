#include "listener.h"

#include <sys/resource.h>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/string.hpp>
#include <cstdio>
#include <stdexcept>

#include "http_session.h"
#include "http_util.h"

namespace hearth {

namespace {

// Refusals being written at once; beyond this a refused connection is closed without an answer.
constexpr int64_t max_refusals_in_progress = 64;
constexpr std::chrono::milliseconds first_pause{50}, longest_pause{500};
// Descriptors kept for what is not a client connection (model file, pipes, epoll, logs).
constexpr int64_t reserved_descriptors = 64;

// --host: an IP address, or localhost. Names are not resolved: a lookup could leave the machine.
std::vector<net::ip::address> addresses_of(const std::string& host) {
  beast::error_code ec;
  const net::ip::address a = net::ip::make_address(host, ec);
  if (!ec) return {a};
  if (beast::iequals(host, "localhost")) return {net::ip::address_v4::loopback(), net::ip::address_v6::loopback()};
  throw std::runtime_error("'" + host + "' is neither an IP address nor localhost (host names are not looked up)");
}

int64_t connection_limit(const server_config& c) {
  if (c.max_connections > 0) return c.max_connections;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return 1 << 20;
  return std::max<int64_t>(16, static_cast<int64_t>(lim.rlim_cur) - reserved_descriptors);
}

// The metrics label of a failed accept.
const char* accept_error_label(const beast::error_code& ec) {
  if (ec == net::error::no_descriptors) return "too_many_open_files";
  if (ec.value() == ENFILE && ec.category() == boost::system::system_category()) return "too_many_open_files_system";
  if (ec == net::error::no_buffer_space || ec == net::error::no_memory) return "out_of_memory";
  return "other";
}

}  // namespace

listener::acceptor_state::acceptor_state(net::io_context& ioc) : acceptor(net::make_strand(ioc)), pause(acceptor.get_executor()) {}

listener::listener(net::io_context& ioc, const std::string& host, int port, app& a)
    : ioc_(ioc), app_(a), limits_(connection_limits::create(connection_limit(a.config), a.config.max_connections_per_peer, &a.stats)) {
  const std::vector<net::ip::address> addresses = addresses_of(host);
  // Port 0 asks for one free port on every address: the first address picks it, and if it is
  // taken on another, all start again.
  for (int attempt = 0;; ++attempt) {
    try {
      bind_all(addresses, port);
      return;
    } catch (const boost::system::system_error& e) {
      acceptors_.clear();
      if (port != 0 || attempt == 20 || e.code() != net::error::address_in_use) throw std::runtime_error(e.what());
    }
  }
}

void listener::bind_all(const std::vector<net::ip::address>& addresses, int port) {
  for (const net::ip::address& address : addresses) {
    auto st = std::make_unique<acceptor_state>(ioc_);
    const tcp::endpoint ep(address, static_cast<unsigned short>(acceptors_.empty() ? port : acceptors_[0]->acceptor.local_endpoint().port()));
    beast::error_code ec;
    st->acceptor.open(ep.protocol(), ec);
    // localhost's ::1 is optional: a machine (or container) without IPv6 has only 127.0.0.1.
    if (ec && addresses.size() > 1 && address.is_v6()) continue;
    if (ec) throw boost::system::system_error(ec, "open " + address.to_string());
    st->acceptor.set_option(net::socket_base::reuse_address(true));
    if (address.is_v6()) st->acceptor.set_option(net::ip::v6_only(true), ec);
    st->acceptor.bind(ep, ec);
    if (ec == boost::system::errc::address_not_available && addresses.size() > 1 && address.is_v6()) continue;
    if (ec) throw boost::system::system_error(ec, "bind " + address.to_string());
    st->acceptor.listen(net::socket_base::max_listen_connections);
    acceptors_.push_back(std::move(st));
  }
}

std::vector<tcp::endpoint> listener::local_endpoints() const {
  std::vector<tcp::endpoint> out;
  for (const auto& st : acceptors_) out.push_back(st->acceptor.local_endpoint());
  return out;
}

void listener::start() {
  for (size_t i = 0; i < acceptors_.size(); ++i) do_accept(i);
}

void listener::stop() {
  for (const auto& st : acceptors_) {
    net::post(st->acceptor.get_executor(), [self = shared_from_this(), a = st.get()] {
      beast::error_code ec;
      a->acceptor.close(ec);
      a->pause.cancel();
    });
  }
}

void listener::do_accept(size_t i) {
  acceptors_[i]->acceptor.async_accept(net::make_strand(ioc_),
                                       [self = shared_from_this(), i](beast::error_code ec, tcp::socket s) {
                                         self->on_accept(i, ec, std::move(s));
                                       });
}

void listener::on_accept(size_t i, beast::error_code ec, tcp::socket s) {
  acceptor_state& st = *acceptors_[i];
  if (ec == net::error::operation_aborted || !st.acceptor.is_open()) return;
  if (ec) return pause_after(i, ec);
  st.backoff = std::chrono::milliseconds(0);
  admit(std::move(s));
  do_accept(i);
}

void listener::pause_after(size_t i, const beast::error_code& ec) {
  acceptor_state& st = *acceptors_[i];
  app_.stats.count_accept_error(accept_error_label(ec));
  // A connection that failed on its own (reset before it was accepted) says nothing about us.
  if (ec == net::error::connection_aborted) return do_accept(i);
  // Out of descriptors or memory, accept fails again at once for as long as connections wait:
  // trying again right away would spin. Pause instead; the connections wait in the backlog.
  if (st.backoff.count() == 0) {
    std::fprintf(stderr, "hearth: accept failed (%s): pausing; new connections wait until it succeeds\n",
                 ec.message().c_str());
  }
  st.backoff = st.backoff.count() == 0 ? first_pause : std::min(st.backoff * 2, longest_pause);
  st.pause.expires_after(st.backoff);
  st.pause.async_wait([self = shared_from_this(), i](beast::error_code wait_ec) {
    if (!wait_ec && self->acceptors_[i]->acceptor.is_open()) self->do_accept(i);
  });
}

void listener::admit(tcp::socket s) {
  beast::error_code ec;
  const tcp::endpoint peer = s.remote_endpoint(ec);
  if (ec) return;  // gone already
  s.set_option(tcp::no_delay(true), ec);
  if (app_.config.send_buffer > 0) s.set_option(net::socket_base::send_buffer_size(app_.config.send_buffer), ec);
  std::string_view refused;
  if (auto slot = limits_->acquire(peer.address(), &refused)) {
    std::make_shared<http_session>(std::move(s), app_, std::move(*slot))->start();
    return;
  }
  app_.stats.count_refused_connection(refused);
  if (!limits_->begin_refusal(max_refusals_in_progress)) return;  // closed without an answer
  auto res = refused == "max_connections"
                 ? error_response(503, "the server has too many open connections (" + std::to_string(limits_->max_total()) +
                                           ", --max-connections); retry shortly", "", "too_many_connections")
                 : error_response(503, "this client has too many open connections (--max-connections-per-peer " +
                                           std::to_string(app_.config.max_connections_per_peer) + ")", "",
                                  "too_many_connections");
  res.set(http::field::retry_after, "1");
  std::make_shared<http_session>(std::move(s), app_, connection_slot{})->refuse(std::move(res), limits_);
}

}  // namespace hearth

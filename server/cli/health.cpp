// `hearth health [--host H] [--port P] [--timeout S]`: asks a running daemon's GET /health and
// exits 0 only on 200. A probe for container health checks and scripts that need no curl.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/commands.h"
#include "cli/options.h"

namespace hearth::cli {

namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;

// The daemon's own default port, or HEARTH_PORT as `hearth serve` reads it.
int default_port() {
  const char* env = std::getenv("HEARTH_PORT");
  return env && *env ? std::atoi(env) : 8080;
}

// The status and body of GET /health; throws boost::system::system_error on network errors.
http::response<http::string_body> get_health(const std::string& host, int port, std::chrono::seconds timeout) {
  net::io_context ioc;
  boost::beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);
  net::ip::tcp::resolver resolver(ioc);
  stream.connect(resolver.resolve(host, std::to_string(port)));
  http::request<http::empty_body> req(http::verb::get, "/health", 11);
  // A numeric loopback Host, which the daemon's DNS-rebinding check accepts on any bind address.
  req.set(http::field::host, host + ":" + std::to_string(port));
  req.set(http::field::connection, "close");
  http::write(stream, req);
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  boost::system::error_code ignored;
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  return res;
}

}  // namespace

int cmd_health(std::span<char* const> args) {
  options opts("hearth health [--host HOST] [--port PORT] [--timeout S]",
               "Ask a running daemon's GET /health: exit 0 if it answers 200 (model loaded), 1 if it\n"
               "answers otherwise (loading, failed) or cannot be reached. Prints the answer.",
               {{"host", 0, "HOST", "address of the daemon (default 127.0.0.1)"},
                {"port", 0, "PORT", "its port (default $HEARTH_PORT, else 8080)"},
                {"timeout", 0, "S", "seconds to wait for the answer (default 5)"}});
  try {
    if (!opts.parse(args)) return 0;
    const std::string host = opts.get_or("host", "127.0.0.1");
    const int64_t port = opts.get_int("port", default_port());
    const int64_t timeout = opts.get_int("timeout", 5);
    if (port < 1 || port > 65535) throw usage_error("--port must be in 1..65535");
    if (timeout < 1 || timeout > 3600) throw usage_error("--timeout must be in 1..3600");
    auto res = get_health(host, static_cast<int>(port), std::chrono::seconds(timeout));
    std::printf("%u %s\n", res.result_int(), res.body().c_str());
    return res.result() == http::status::ok ? 0 : 1;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "hearth health: %s\n(see hearth health --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hearth health: %s\n", e.what());
    return 1;
  }
}

}  // namespace hearth::cli

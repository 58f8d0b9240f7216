#pragma once
// SIGINT and SIGTERM as events on an io_context, for the daemon's shutdown.
//
// Unlike boost::asio::signal_set, whose destructor puts back the default action, the handler
// installed here stays until the process exits. A signal that arrives while the daemon tears down
// (systemd signals the main process and then its whole cgroup, timeout(1) the child and then its
// process group, a user presses Ctrl-C twice) is absorbed: a clean shutdown exits 0, never
// 128 + the signal.
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>

namespace hearth {

class stop_signals {
 public:
  // Installs the handlers (once per process; later instances share them). `on_signal` runs on
  // `ioc` for every SIGINT/SIGTERM received while this object lives, with the signal's number.
  stop_signals(boost::asio::io_context& ioc, std::function<void(int)> on_signal);
  // Stops reporting; the handlers stay installed and signals from now on are dropped.
  ~stop_signals();
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

 private:
  void read_next();

  boost::asio::posix::stream_descriptor pipe_;  // the read end of the handlers' self-pipe
  std::function<void(int)> on_signal_;
  unsigned char signal_ = 0;
};

}  // namespace hearth

#include "stop_signals.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/read.hpp>
#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>

namespace hearth {

namespace {

// The self-pipe: the handler writes the signal's number; a full pipe drops it (the daemon is
// stopping already). Both ends are never closed, so the handler never writes to a closed pipe.
int pipe_fds[2] = {-1, -1};

extern "C" void on_stop_signal(int sig) {
  const int saved = errno;  // the handler may interrupt any code that reads errno
  const unsigned char byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] const ssize_t n = ::write(pipe_fds[1], &byte, 1);
  errno = saved;
}

// A fresh descriptor for the read end (each stop_signals owns and closes its own duplicate).
int install_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw std::system_error(errno, std::generic_category(), "stop signals: pipe2");
    }
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;  // no EINTR in the other threads' system calls
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM}) {
      if (::sigaction(sig, &sa, nullptr) != 0) {
        throw std::system_error(errno, std::generic_category(), "stop signals: sigaction " + std::to_string(sig));
      }
    }
  });
  const int fd = ::fcntl(pipe_fds[0], F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "stop signals: dup");
  return fd;
}

}  // namespace

stop_signals::stop_signals(boost::asio::io_context& ioc, std::function<void(int)> on_signal)
    : pipe_(ioc, install_once()), on_signal_(std::move(on_signal)) {
  read_next();
}

stop_signals::~stop_signals() {
  boost::system::error_code ignored;
  pipe_.close(ignored);  // a duplicate: the handlers' read end stays open
}

void stop_signals::read_next() {
  boost::asio::async_read(pipe_, boost::asio::buffer(&signal_, 1), [this](const boost::system::error_code& ec, size_t) {
    if (ec) return;  // closed: this object is gone or going
    on_signal_(signal_);
    read_next();
  });
}

}  // namespace hearth

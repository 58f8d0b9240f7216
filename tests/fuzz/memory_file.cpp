#include "memory_file.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace hearth::fuzz {

memory_file::memory_file(std::span<const uint8_t> bytes) {
  fd_ = ::memfd_create("hearth-fuzz", MFD_CLOEXEC);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd_);
      throw std::system_error(e, std::generic_category(), "write to memfd");
    }
    done += static_cast<size_t>(n);
  }
  path_ = "/proc/self/fd/" + std::to_string(fd_);
}

memory_file::~memory_file() { ::close(fd_); }

}  // namespace hearth::fuzz

#include "gguf/mapping_guard.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <cstdint>
#include <mutex>
#include <utility>

namespace hearth {

namespace {

// One registered mapping. The handler reads these lock-free (std::atomic of a word is
// lock-free on every target hearth builds for, checked below), so it may run at any moment.
struct slot {
  std::atomic<bool> taken{false};
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};  // 0: not (yet or any more) registered
  std::atomic<bool> faulted{false};
};
static_assert(std::atomic<uintptr_t>::is_always_lock_free && std::atomic<bool>::is_always_lock_free);

slot slots[mapping_guard::max_guarded];
uintptr_t page_size = 4096;     // set before the handler is installed
struct sigaction previous {};  // the SIGBUS disposition before ours

// Gives the fault to whoever had SIGBUS before us, or to the default action (termination).
void pass_on(int sig, siginfo_t* info, void* context) {
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction) return previous.sa_sigaction(sig, info, context);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    return previous.sa_handler(sig);
  }
  // Default action: restore it and re-raise. SIGBUS stays blocked until this handler returns,
  // so the signal is delivered (and kills the process) right after.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
  raise(SIGBUS);
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (slot& s : slots) {
    const uintptr_t begin = s.begin.load(std::memory_order_acquire);
    const uintptr_t end = s.end.load(std::memory_order_acquire);
    if (addr < begin || addr >= end) continue;
    // A raw system call: no libc wrapper (or sanitizer interceptor) runs inside the handler.
    const uintptr_t page = addr & ~(page_size - 1);
    const long r = syscall(SYS_mmap, page, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (r == -1) break;
    s.faulted.store(true, std::memory_order_release);
    return;  // the faulting read retries and sees zeros
  }
  pass_on(sig, info, context);
}

void install_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    page_size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &previous);
  });
}

}  // namespace

mapping_guard::mapping_guard(const void* base, size_t size) {
  install_handler();
  for (int i = 0; i < max_guarded; ++i) {
    bool expected = false;
    if (!slots[i].taken.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) continue;
    const auto b = reinterpret_cast<uintptr_t>(base);
    slots[i].faulted.store(false, std::memory_order_relaxed);
    slots[i].begin.store(b, std::memory_order_release);
    slots[i].end.store(b + size, std::memory_order_release);
    slot_ = i;
    return;
  }
}

mapping_guard::~mapping_guard() { release(); }

mapping_guard::mapping_guard(mapping_guard&& o) noexcept : slot_(std::exchange(o.slot_, -1)) {}

mapping_guard& mapping_guard::operator=(mapping_guard&& o) noexcept {
  if (this != &o) {
    release();
    slot_ = std::exchange(o.slot_, -1);
  }
  return *this;
}

bool mapping_guard::faulted() const {
  return slot_ >= 0 && slots[slot_].faulted.load(std::memory_order_acquire);
}

void mapping_guard::release() {
  if (slot_ < 0) return;
  slot& s = slots[slot_];
  s.end.store(0, std::memory_order_release);
  s.begin.store(0, std::memory_order_release);
  s.taken.store(false, std::memory_order_release);
  slot_ = -1;
}

int64_t stat_mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::optional<std::string> mapped_file_change(const mapping_guard& guard, int fd, uint64_t size, int64_t mtime) {
  if (guard.faulted()) return "pages of it vanished: it was truncated";
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) return std::string("it can no longer be read: ") + std::strerror(errno);
  if (static_cast<uint64_t>(st.st_size) != size) {
    return "its size changed from " + std::to_string(size) + " to " + std::to_string(st.st_size) + " bytes";
  }
  if (stat_mtime_ns(st) != mtime) return std::string("it was modified in place");
  return std::nullopt;
}

}  // namespace hearth

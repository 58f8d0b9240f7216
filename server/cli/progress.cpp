#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace hearth::cli {

progress_bar::progress_bar(int64_t total, std::string unit)
    : total_(std::max<int64_t>(1, total)), unit_(std::move(unit)), tty_(isatty(STDERR_FILENO) != 0) {}

void progress_bar::update(int64_t done, const std::string& detail) {
  const int64_t step = 20 * done / total_;  // 5% steps
  if (!tty_ && step == last_step_ && done != total_) return;
  last_step_ = step;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  constexpr int width = 30;
  const int filled = static_cast<int>(width * std::min(done, total_) / total_);
  const double eta = done > 0 ? s * static_cast<double>(total_ - done) / static_cast<double>(done) : 0;
  std::fprintf(stderr, "%s[%s%s] %lld/%lld %s%s%s  %.1f s, ETA %.0f s%s", tty_ ? "\r" : "",
               std::string(static_cast<size_t>(filled), '#').c_str(), std::string(static_cast<size_t>(width - filled), ' ').c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), unit_.c_str(), detail.empty() ? "" : "  ",
               detail.c_str(), s, eta, tty_ ? "" : "\n");
  if (tty_ && done >= total_) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace hearth::cli

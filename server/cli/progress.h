#pragma once
// A progress bar on stderr for long CLI commands: on a terminal one line redrawn in place; into
// a log or pipe, a line every ~5% of the work (and the last).
#include <chrono>
#include <cstdint>
#include <string>

namespace hearth::cli {

class progress_bar {
 public:
  // total: units of work (chunks, bytes ...); unit: what a unit is called ("chunks").
  progress_bar(int64_t total, std::string unit);

  // done units so far; detail: what to show after the count ("PPL 4.3312").
  void update(int64_t done, const std::string& detail = "");

 private:
  int64_t total_;
  std::string unit_;
  bool tty_;
  int64_t last_step_ = -1;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

}  // namespace hearth::cli

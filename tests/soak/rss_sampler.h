#pragma once
// Samples a process's resident set size (VmRSS in /proc/PID/status) on its own thread.
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace hearth::soak {

struct rss_summary {
  double start_mib = 0;  // the first sample
  double warm_mib = 0;   // median of the samples in the 5 s after the warm-up
  double end_mib = 0;    // median of the last 5 s of samples
  double peak_mib = 0;
  size_t samples = 0;
};

class rss_sampler {
 public:
  rss_sampler(int pid, std::chrono::milliseconds every);
  ~rss_sampler();
  void stop();
  // Thread-safe after stop().
  rss_summary summary(std::chrono::seconds warmup) const;

 private:
  struct sample {
    double t;  // seconds since start
    double mib;
  };
  void run();

  int pid_;
  std::chrono::milliseconds every_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<sample> samples_;
  std::thread thread_;
};

}  // namespace hearth::soak

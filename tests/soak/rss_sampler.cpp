#include "rss_sampler.h"

#include <algorithm>
#include <fstream>
#include <string>

namespace hearth::soak {

namespace {

double rss_mib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  return -1;
}

template <class It>
double median(It begin, It end) {
  std::vector<double> v;
  for (It i = begin; i != end; ++i) v.push_back(i->mib);
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

}  // namespace

rss_sampler::rss_sampler(int pid, std::chrono::milliseconds every) : pid_(pid), every_(every), thread_([this] { run(); }) {}

rss_sampler::~rss_sampler() { stop(); }

void rss_sampler::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void rss_sampler::run() {
  const auto t0 = std::chrono::steady_clock::now();
  while (!stop_.load()) {
    const double mib = rss_mib(pid_);
    if (mib >= 0) {
      std::lock_guard lock(mu_);
      samples_.push_back({std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), mib});
    }
    std::this_thread::sleep_for(every_);
  }
}

rss_summary rss_sampler::summary(std::chrono::seconds warmup) const {
  std::lock_guard lock(mu_);
  rss_summary s;
  s.samples = samples_.size();
  if (samples_.empty()) return s;
  s.start_mib = samples_.front().mib;
  const double w = static_cast<double>(warmup.count()), last = samples_.back().t;
  auto after = [&](double t) {
    return std::find_if(samples_.begin(), samples_.end(), [t](const sample& x) { return x.t >= t; });
  };
  s.warm_mib = median(after(w), after(w + 5));
  s.end_mib = median(after(last - 5), samples_.end());
  for (const sample& x : samples_) s.peak_mib = std::max(s.peak_mib, x.mib);
  return s;
}

}  // namespace hearth::soak

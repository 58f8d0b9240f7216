// soak_client: 32 clients (by default) hammer a running `hearth serve` for a bounded time with
// every kind of request (soak_clients.h), while the server's RSS is sampled. Passes when no
// answer was malformed or unexpected, the server is idle and healthy afterwards (no running
// sequence, no KV block still held), and its RSS grew by at most --max-rss-growth-mib from the
// end of the warm-up to the end. scripts/soak starts the server and runs this.
//
// Usage: soak_client --port P --pid PID [--seconds 60] [--clients 32] [--warmup S]
//                    [--max-rss-growth-mib 8] [--api-key KEY] [--seed N]
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include "rss_sampler.h"
#include "soak_clients.h"

using namespace hearth::soak;

namespace {

struct options {
  soak_target target;
  int pid = 0;
  int seconds = 60;
  int clients = 32;
  int warmup = -1;  // default: a quarter of the run, at least 5 s
  double max_growth_mib = 8;
  uint64_t seed = 1;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--port") o.target.port = std::stoi(v);
    else if (k == "--host") o.target.host = v;
    else if (k == "--pid") o.pid = std::stoi(v);
    else if (k == "--seconds") o.seconds = std::stoi(v);
    else if (k == "--clients") o.clients = std::stoi(v);
    else if (k == "--warmup") o.warmup = std::stoi(v);
    else if (k == "--max-rss-growth-mib") o.max_growth_mib = std::stod(v);
    else if (k == "--api-key") o.target.api_key = v;
    else if (k == "--seed") o.seed = std::stoull(v);
    else throw std::invalid_argument("unknown option " + k);
  }
  if (o.target.port <= 0 || o.pid <= 0 || o.seconds < 1 || o.clients < 1) {
    throw std::invalid_argument("usage: soak_client --port P --pid PID [--seconds S] [--clients N] ...");
  }
  if (o.warmup < 0) o.warmup = std::max(5, o.seconds / 4);
  return o;
}

// A gauge's value in the Prometheus text, or -1 if the metric is missing (a renamed metric must
// fail the check, not read as 0).
double gauge(const std::string& metrics, const std::string& name) {
  std::smatch m;
  if (std::regex_search(metrics, m, std::regex("(^|\\n)" + name + "(\\{[^}]*\\})? ([0-9.eE+-]+)"))) return std::stod(m[3]);
  return -1;
}

// After the clients stop, the server must drain to idle: nothing running or queued, every KV
// block free. Returns "" or what is still held.
std::string check_idle(const soak_target& t) {
  std::string held;
  for (int i = 0; i < 100; ++i) {
    const std::string m = http_get(t, "/metrics");
    const double running = gauge(m, "hearth_running_sequences"), queued = gauge(m, "hearth_queue_depth"),
                 used = gauge(m, "hearth_kv_blocks_used");
    if (running == 0 && queued == 0 && used == 0) return "";
    held = "running " + std::to_string(running) + ", queued " + std::to_string(queued) + ", KV blocks used " +
           std::to_string(used);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return held;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak_client: %s\n", e.what());
    return 2;
  }
  rss_sampler rss(o.pid, std::chrono::milliseconds(500));
  soak_tally tally;
  boost::asio::io_context ioc(1);
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + std::chrono::seconds(o.seconds);
  for (int c = 0; c < o.clients; ++c) {
    boost::asio::co_spawn(ioc, run_client(o.target, o.seed * 1000 + c, until, tally), boost::asio::detached);
  }
  ioc.run();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rss.stop();

  std::string idle, health;
  try {
    idle = check_idle(o.target);
    health = http_get(o.target, "/health");
  } catch (const std::exception& e) {
    idle = std::string("the server stopped answering: ") + e.what();
  }

  std::printf("soak: %d clients, %.0f s, %lld events received\n", o.clients, elapsed, static_cast<long long>(tally.events));
  std::printf("  %-26s %8s %7s\n", "operation", "ok", "errors");
  for (const auto& [name, c] : tally.ops) {
    std::printf("  %-26s %8lld %7lld\n", name.c_str(), static_cast<long long>(c.done), static_cast<long long>(c.errors));
  }
  for (const std::string& e : tally.first_errors) std::printf("  error: %s\n", e.c_str());
  const rss_summary r = rss.summary(std::chrono::seconds(o.warmup));
  std::printf("  server RSS: start %.1f MiB, after %d s warm-up %.1f MiB, end %.1f MiB, peak %.1f MiB; "
              "growth after warm-up %+.1f MiB (bound %.0f MiB), %zu samples\n",
              r.start_mib, o.warmup, r.warm_mib, r.end_mib, r.peak_mib, r.end_mib - r.warm_mib, o.max_growth_mib, r.samples);
  bool pass = tally.total_errors() == 0;
  if (!idle.empty()) {
    std::printf("  FAIL: the server did not drain to idle: %s\n", idle.c_str());
    pass = false;
  }
  if (r.samples < 4 || r.end_mib - r.warm_mib > o.max_growth_mib) {
    std::printf("  FAIL: RSS grew by %.1f MiB after warm-up (bound %.0f MiB)\n", r.end_mib - r.warm_mib, o.max_growth_mib);
    pass = false;
  }
  std::printf("soak: %s (%lld unexpected errors)\n", pass ? "passed" : "FAILED", static_cast<long long>(tally.total_errors()));
  return pass ? 0 : 1;
}

// Privacy: the daemon makes no outbound connection and logs no prompt by default.
//
// The daemon runs under strace, which records every connect, sendto, sendmsg and sendmmsg of every
// thread with its destination, from exec to exit, through a whole session (model load, plain and
// streamed generations, WebSocket generations with cancels and dropped clients: the soak client,
// then SIGTERM). Every destination must be loopback or a local socket. strace rather than a
// network namespace: a namespace without a route only makes an outbound attempt fail, which a
// daemon may swallow; the trace shows the attempt itself, needs no root, and names the address.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "process.h"
#include "server_process.h"

using namespace hearth::test;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> strace_options = {"-f", "-qq", "-s", "0", "-e", "trace=connect,sendto,sendmsg,sendmmsg"};

struct trace_summary {
  int calls = 0;                    // traced calls seen
  std::vector<std::string> outside;  // calls to a destination other than loopback or local
};

// Reads strace's output. A destination is fine when it is AF_UNIX / AF_NETLINK (local to the
// machine), AF_UNSPEC (a disconnect), 127.0.0.0/8, ::1 or ::ffff:127.x; any other family or
// address counts as outside, so does a line naming a family the patterns do not know.
trace_summary read_trace(const fs::path& file) {
  static const std::regex call(R"re((connect|sendto|sendmsg|sendmmsg)\()re");
  static const std::regex family(R"re(sa_family=(AF_[A-Z0-9]+))re");
  static const std::regex inet(R"re(sin_addr=inet_addr\("([^"]*)"\))re");
  static const std::regex inet6(R"re(inet_pton\(AF_INET6, "([^"]*)")re");
  trace_summary s;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (!std::regex_search(line, call)) continue;
    ++s.calls;
    for (auto it = std::sregex_iterator(line.begin(), line.end(), family); it != std::sregex_iterator(); ++it) {
      const std::string fam = (*it)[1];
      std::smatch a;
      bool local = fam == "AF_UNIX" || fam == "AF_NETLINK" || fam == "AF_UNSPEC";
      if (fam == "AF_INET" && std::regex_search(line, a, inet)) local = a[1].str().starts_with("127.");
      if (fam == "AF_INET6" && std::regex_search(line, a, inet6)) {
        local = a[1] == "::1" || a[1].str().starts_with("::ffff:127.");
      }
      if (!local) s.outside.push_back(line);
    }
  }
  return s;
}

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / ("hearth-privacy-" + std::to_string(::getpid()) + "-" + name);
}

// strace writing to `out`. LeakSanitizer cannot run under ptrace (the asan preset's daemon would
// fail at exit), so leak checks are off for the traced process; the other suites keep them.
std::vector<std::string> strace_to(const fs::path& out) {
  const char* asan = std::getenv("ASAN_OPTIONS");
  std::vector<std::string> argv = {"env", std::string("ASAN_OPTIONS=") + (asan ? std::string(asan) + ":" : "") + "detect_leaks=0",
                                   "strace", "-o", out.string()};
  argv.insert(argv.end(), strace_options.begin(), strace_options.end());
  return argv;
}

void require_strace() {
  if (run_process({"strace", "-V"}).exit_code != 0) FAIL("strace is not installed (scripts/setup --test installs it)");
}

const std::string canary = "privacy canary 5f3a prompt";

}  // namespace

TEST_CASE("privacy: the trace check sees a connection outside loopback", "[privacy]") {
  require_strace();
  // The health probe pointed at TEST-NET-2 (RFC 5737) makes exactly the attempt the daemon must not.
  const fs::path trace = temp_file("probe.trace");
  std::vector<std::string> argv = strace_to(trace);
  for (const char* a : {HEARTH_BINARY, "health", "--host", "198.51.100.1", "--port", "9", "--timeout", "1"}) argv.push_back(a);
  process_result r = run_process(argv);
  CHECK(r.exit_code == 1);
  const trace_summary s = read_trace(trace);
  INFO(r.err);
  CHECK(s.calls >= 1);
  REQUIRE(s.outside.size() == 1);
  CHECK(s.outside[0].find("198.51.100.1") != std::string::npos);

  // And a loopback attempt is not flagged.
  argv = strace_to(trace);
  for (const char* a : {HEARTH_BINARY, "health", "--host", "127.0.0.1", "--port", "9", "--timeout", "1"}) argv.push_back(a);
  run_process(argv);
  const trace_summary loop = read_trace(trace);
  CHECK(loop.calls >= 1);
  CHECK(loop.outside.empty());
  fs::remove(trace);
}

TEST_CASE("privacy: a whole session under strace connects nowhere but loopback and logs no prompt", "[privacy]") {
  require_strace();
  const fs::path trace = temp_file("serve.trace");
  server_process s({"--parallel", "4"}, true, strace_to(trace));
  const http_result plain = curl_json(s.url("/v1/completions"), R"({"prompt": ")" + canary + R"(", "max_tokens": 4})");
  CHECK(plain.status == 200);
  // Plain and streamed requests of every API, WebSocket generations, cancels and dropped clients.
  const process_result session = run_process({HEARTH_SOAK_CLIENT, "--port", std::to_string(s.port()), "--pid",
                                               std::to_string(s.daemon_pid()), "--seconds", "6", "--clients", "4",
                                               "--max-rss-growth-mib", "1024"});
  CHECK(s.terminate() == 0);
  INFO(session.out << session.err << "\nserver log:\n" << s.log());
  CHECK(session.exit_code == 0);

  const trace_summary t = read_trace(trace);
  INFO(t.calls << " calls traced");
  CHECK(t.calls >= 10);  // the replies went out through traced calls: the trace saw the session
  for (const std::string& line : t.outside) FAIL_CHECK("outbound: " << line);
  CHECK(t.outside.empty());
  CHECK(s.log().find(canary) == std::string::npos);
  fs::remove(trace);
}

TEST_CASE("privacy: --log-prompts is what puts a prompt in the log", "[privacy]") {
  // The counterpart of the check above, so that check can fail.
  server_process s({"--log-prompts"});
  CHECK(curl_json(s.url("/v1/completions"), R"({"prompt": ")" + canary + R"(", "max_tokens": 4})").status == 200);
  CHECK(s.terminate() == 0);
  CHECK(s.log().find(canary) != std::string::npos);
}

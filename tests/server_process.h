#pragma once
// A `hearth serve` child process on a random loopback port, for integration tests, and the
// clients that talk to it (curl, node) as separate processes.
#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "process.h"

namespace hearth::test {

// A model slow enough (llama-160m shape, random Q8_0 weights) that load tests can watch requests
// queue up; written by the synth_test_model fixture before the tests that need it.
inline const std::string slow_model = std::string(HEARTH_TEST_MODEL_DIR) + "/llama-160m-q8_0.gguf";

class server_process {
 public:
  // Starts `hearth serve --port 0 --host 127.0.0.1 <args>` and waits until /health is 200.
  // `launcher`: a command the daemon runs under (e.g. strace -f ...), looked up in PATH; the
  // daemon is then the launcher's child, and terminate() signals the daemon itself.
  explicit server_process(std::vector<std::string> args = {}, bool wait_ready = true,
                          std::vector<std::string> launcher = {});
  ~server_process();  // SIGKILL if still running
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // The server's resident memory (VmRSS of /proc/PID/status) in KiB; -1 if unreadable.
  long rss_kib() const;
  // Sends SIGTERM without waiting; then terminate() or wait_exit() collects the exit code.
  void signal_term();
  // The exit code (128 + N for death by signal N) if the process has exited, else -1; never waits.
  int poll_exit();
  // Waits up to `seconds` for the process to exit; its exit code, or -1.
  int wait_exit(int seconds = 20);
  std::string url(const std::string& path = "/") const;
  // SIGTERM, then the exit code (waits up to `seconds`; -1 if it did not exit).
  int terminate(int seconds = 20);
  // Everything the server wrote to stderr so far.
  std::string log();
  // The daemon's process id (the launcher's child when there is a launcher; -1 if gone).
  pid_t daemon_pid() const;

 private:
  pid_t pid_ = -1;
  bool launched_ = false;
  int port_ = 0;
  int stderr_fd_ = -1;  // reads the daemon's stderr file from where log() stopped
  std::string log_;
};

struct http_result {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

// curl with the given extra arguments against `url`; returns status, headers and body.
http_result curl(const std::string& url, const std::vector<std::string>& args = {});
http_result curl_json(const std::string& url, const std::string& json_body, const std::vector<std::string>& args = {});

// The value of one sample of the server's /metrics, e.g. "hearth_running_sequences" or
// "hearth_generations_total{reason=\"cancelled\"}"; 0 if absent. `curl_args`: e.g. a key's header.
double metric(const server_process& s, const std::string& sample, const std::vector<std::string>& curl_args = {});

// Lines of `data: ...` payloads of a server-sent event stream.
std::vector<std::string> sse_payloads(const std::string& body);

}  // namespace hearth::test

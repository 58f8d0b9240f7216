#include "server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "sanitizers.h"

extern char** environ;

namespace hearth::test {

namespace {

std::string read_available(int fd, int timeout_ms) {
  std::string out;
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) > 0 && (p.revents & (POLLIN | POLLHUP))) {
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) out.append(buf, n);
  }
  return out;
}

}  // namespace

server_process::server_process(std::vector<std::string> args, bool wait_ready, std::vector<std::string> launcher)
    : launched_(!launcher.empty()) {
  // stderr goes to an unlinked file, not a pipe: a daemon logging every request would fill a pipe
  // nobody reads while a test waits on a client, and then block in its log writes.
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC)) throw std::runtime_error("pipe");
  char log_path[] = "/tmp/hearth-serve-log-XXXXXX";
  err[1] = mkostemp(log_path, O_CLOEXEC | O_APPEND);
  if (err[1] < 0) throw std::runtime_error("mkostemp");
  err[0] = open(log_path, O_RDONLY | O_CLOEXEC);
  unlink(log_path);
  if (err[0] < 0) throw std::runtime_error("open " + std::string(log_path));
  std::vector<std::string> argv = std::move(launcher);
  for (const char* a : {HEARTH_BINARY, "serve", "--host", "127.0.0.1", "--port", "0"}) argv.push_back(a);
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  int rc = posix_spawnp(&pid_, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  close(err[1]);
  if (rc != 0) throw std::runtime_error("cannot start hearth serve");
  stderr_fd_ = err[0];
  std::string printed;
  // Sanitized daemons load models several times slower, and CI runs two suites at once.
#if defined(HEARTH_ASAN) || defined(HEARTH_TSAN)
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
#else
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
#endif
  std::smatch m;
  static const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+)/)");
  while (!std::regex_search(printed, m, listening)) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("hearth serve printed no URL: " + printed + log());
    printed += read_available(out[0], 100);
  }
  port_ = std::stoi(m[1]);
  close(out[0]);
  if (!wait_ready) return;
  while (curl(url("health")).status != 200) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("hearth serve never became ready: " + log());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

server_process::~server_process() {
  if (pid_ > 0) {
    // A killed launcher would leave the daemon running: kill the daemon first.
    if (const pid_t d = daemon_pid(); launched_ && d > 0) kill(d, SIGKILL);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stderr_fd_ >= 0) close(stderr_fd_);
}

std::string server_process::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + (path.starts_with("/") ? path : "/" + path);
}

std::string server_process::log() {
  char buf[4096];
  ssize_t n;
  while (stderr_fd_ >= 0 && (n = read(stderr_fd_, buf, sizeof buf)) > 0) log_.append(buf, n);
  return log_;
}

long server_process::rss_kib() const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

pid_t server_process::daemon_pid() const {
  if (pid_ <= 0 || !launched_) return pid_;
  std::ifstream children("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) + "/children");
  pid_t child = -1;
  children >> child;
  return child;
}

// A launcher such as strace exits with its child's status, so the daemon itself is signalled.
// (Never kill(-1): every process.)
void server_process::signal_term() {
  if (const pid_t d = daemon_pid(); d > 0) kill(d, SIGTERM);
}

int server_process::terminate(int seconds) {
  signal_term();
  return wait_exit(seconds);
}

int server_process::poll_exit() {
  if (pid_ <= 0) return -1;
  log();
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return -1;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int server_process::wait_exit(int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
    if (const int code = poll_exit(); code >= 0) return code;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

http_result curl(const std::string& url, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", "120", "-D", "-", "-o", "-", "--noproxy", "*"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(url);
  process_result r = run_process(argv);
  http_result out;
  // -D - writes the headers first; with -o - the body follows the blank line.
  std::string& s = r.out;
  size_t pos = 0;
  for (;;) {  // skip interim 1xx/100-continue blocks
    size_t end = s.find("\r\n\r\n", pos);
    if (end == std::string::npos) return out;
    std::string head = s.substr(pos, end - pos);
    pos = end + 4;
    std::istringstream lines(head);
    std::string line;
    std::getline(lines, line);
    if (line.size() < 12) return out;
    out.status = std::stoi(line.substr(9, 3));
    if (out.status == 100) continue;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    break;
  }
  out.body = s.substr(pos);
  return out;
}

http_result curl_json(const std::string& url, const std::string& json_body, const std::vector<std::string>& args) {
  std::vector<std::string> a = {"-X", "POST", "-H", "Content-Type: application/json", "--data-binary", json_body};
  a.insert(a.end(), args.begin(), args.end());
  return curl(url, a);
}

double metric(const server_process& s, const std::string& sample, const std::vector<std::string>& curl_args) {
  const std::string body = curl(s.url("/metrics"), curl_args).body;
  const auto at = body.find("\n" + sample + " ");
  return at == std::string::npos ? 0 : std::stod(body.substr(at + sample.size() + 2));
}

std::vector<std::string> sse_payloads(const std::string& body) {
  std::vector<std::string> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.starts_with("data: ")) out.push_back(line.substr(6));
  }
  return out;
}

}  // namespace hearth::test

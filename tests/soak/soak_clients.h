#pragma once
// The soak's clients: coroutines on one io_context, each looping over random operations against
// a running daemon until a deadline — non-streamed and streamed /v1/completions,
// /v1/chat/completions and /v1/generate (some abandoned mid-stream or right after sending), WebSocket
// sessions with several generations at once (some cancelled, some dropped without a close
// frame), and deliberately malformed requests. Every answer is checked (soak_checks.h).
//
// Runs on the io_context's thread(s); soak_tally is only touched from there (one thread).
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hearth::soak {

struct soak_target {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string api_key;  // sent as "Authorization: Bearer" when non-empty
};

struct op_count {
  int64_t done = 0;      // completed and well-formed (or abandoned on purpose)
  int64_t errors = 0;    // anything unexpected
};

struct soak_tally {
  std::map<std::string, op_count> ops;  // by operation name
  std::vector<std::string> first_errors;  // the first few, for the report
  int64_t events = 0;                     // SSE events and WebSocket messages received

  void ok(const std::string& op) { ++ops[op].done; }
  void error(const std::string& op, const std::string& what);
  int64_t total_errors() const;
};

// One client's loop until `until`. `seed` makes its choice of operations reproducible.
boost::asio::awaitable<void> run_client(soak_target target, uint64_t seed,
                                        std::chrono::steady_clock::time_point until, soak_tally& tally);

// GET path; the body (throws on a network error or a status other than 200).
std::string http_get(const soak_target& target, const std::string& path);

}  // namespace hearth::soak

#pragma once
// How many client connections are open, in total and per client address, and the slots that
// hold them: a connection takes a slot when accepted and gives it back when its socket is gone,
// whichever session (HTTP, then maybe WebSocket) owns the socket by then.
//
// Thread-safe. Slots keep the table alive, so a session that outlives the listener still
// releases its slot safely.
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

namespace hearth {

class metrics;
class connection_limits;

// One open connection's claim. Movable; gives the slot back when destroyed or released.
class connection_slot {
 public:
  connection_slot() = default;
  connection_slot(connection_slot&& o) noexcept;
  connection_slot& operator=(connection_slot&& o) noexcept;
  ~connection_slot() { release(); }
  void release();
  explicit operator bool() const { return owner_ != nullptr; }

 private:
  friend class connection_limits;
  connection_slot(std::shared_ptr<connection_limits> owner, boost::asio::ip::address peer)
      : owner_(std::move(owner)), peer_(peer) {}
  std::shared_ptr<connection_limits> owner_;
  boost::asio::ip::address peer_;
};

class connection_limits : public std::enable_shared_from_this<connection_limits> {
 public:
  // max_total: connections open at once; max_per_peer: per client address, 0 = no such limit.
  // `m` (may be null) gets the open-connection gauge.
  static std::shared_ptr<connection_limits> create(int64_t max_total, int64_t max_per_peer, metrics* m);

  // A slot for a connection from `peer`, or nullopt with *refused set to why
  // ("max_connections" or "max_connections_per_peer").
  std::optional<connection_slot> acquire(const boost::asio::ip::address& peer, std::string_view* refused);

  // Refusals being written (each holds a descriptor for a moment): at most `max` at once.
  bool begin_refusal(int64_t max);
  void end_refusal();

  int64_t max_total() const { return max_total_; }

 private:
  connection_limits(int64_t max_total, int64_t max_per_peer, metrics* m)
      : max_total_(max_total), max_per_peer_(max_per_peer), metrics_(m) {}
  friend class connection_slot;
  void release(const boost::asio::ip::address& peer);

  const int64_t max_total_;
  const int64_t max_per_peer_;
  metrics* metrics_;
  std::mutex mu_;
  int64_t open_ = 0;
  int64_t refusing_ = 0;
  std::map<boost::asio::ip::address, int64_t> per_peer_;  // only addresses with open connections
};

}  // namespace hearth

#pragma once
// The open WebSocket sessions, so that shutdown can end each with a Close frame (1001, going
// away) after its last messages instead of dropping the connection.
//
// Thread-safe. Holds sessions weakly: a session adds itself once its handshake is done and
// removes itself when its Close frame is sent or it is destroyed.
#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace hearth {

class ws_session;

class ws_registry {
 public:
  // After close_all() a session added is told to go away at once.
  void add(const std::shared_ptr<ws_session>& s);
  void remove(const ws_session* s);
  // Asks every open session, on its own strand, to send what it has queued and then close
  // with 1001. Idempotent.
  void close_all();
  // Sessions not yet closed.
  size_t open() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<const ws_session*, std::weak_ptr<ws_session>> sessions_;
  bool closing_ = false;
};

}  // namespace hearth

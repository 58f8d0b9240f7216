#include "ws_registry.h"

#include <boost/asio/post.hpp>
#include <vector>

#include "ws_session.h"

namespace hearth {

namespace {

void tell_to_go_away(const std::shared_ptr<ws_session>& s) {
  boost::asio::post(s->executor(), [s] { s->go_away(); });
}

}  // namespace

void ws_registry::add(const std::shared_ptr<ws_session>& s) {
  bool closing;
  {
    std::lock_guard lock(mu_);
    sessions_[s.get()] = s;
    closing = closing_;
  }
  if (closing) tell_to_go_away(s);
}

void ws_registry::remove(const ws_session* s) {
  std::lock_guard lock(mu_);
  sessions_.erase(s);
}

void ws_registry::close_all() {
  std::vector<std::shared_ptr<ws_session>> live;
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (auto s = it->second.lock()) {
        live.push_back(std::move(s));
        ++it;
      } else {
        it = sessions_.erase(it);
      }
    }
  }
  for (const auto& s : live) tell_to_go_away(s);
}

size_t ws_registry::open() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace hearth

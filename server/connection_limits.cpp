#include "connection_limits.h"

#include "metrics.h"

namespace hearth {

connection_slot::connection_slot(connection_slot&& o) noexcept : owner_(std::move(o.owner_)), peer_(o.peer_) {}

connection_slot& connection_slot::operator=(connection_slot&& o) noexcept {
  if (this != &o) {
    release();
    owner_ = std::move(o.owner_);
    peer_ = o.peer_;
  }
  return *this;
}

void connection_slot::release() {
  if (!owner_) return;
  owner_->release(peer_);
  owner_.reset();
}

std::shared_ptr<connection_limits> connection_limits::create(int64_t max_total, int64_t max_per_peer, metrics* m) {
  return std::shared_ptr<connection_limits>(new connection_limits(max_total, max_per_peer, m));
}

std::optional<connection_slot> connection_limits::acquire(const boost::asio::ip::address& peer,
                                                          std::string_view* refused) {
  std::lock_guard lock(mu_);
  if (open_ >= max_total_) {
    *refused = "max_connections";
    return std::nullopt;
  }
  int64_t& mine = per_peer_[peer];
  if (max_per_peer_ > 0 && mine >= max_per_peer_) {
    if (mine == 0) per_peer_.erase(peer);
    *refused = "max_connections_per_peer";
    return std::nullopt;
  }
  ++mine;
  ++open_;
  if (metrics_) metrics_->set_open_connections(open_);
  return connection_slot(shared_from_this(), peer);
}

void connection_limits::release(const boost::asio::ip::address& peer) {
  std::lock_guard lock(mu_);
  auto it = per_peer_.find(peer);
  if (it != per_peer_.end() && --it->second <= 0) per_peer_.erase(it);
  --open_;
  if (metrics_) metrics_->set_open_connections(open_);
}

bool connection_limits::begin_refusal(int64_t max) {
  std::lock_guard lock(mu_);
  if (refusing_ >= max) return false;
  ++refusing_;
  return true;
}

void connection_limits::end_refusal() {
  std::lock_guard lock(mu_);
  --refusing_;
}

}  // namespace hearth

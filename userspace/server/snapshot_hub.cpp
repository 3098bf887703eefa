#include "server/snapshot_hub.hpp"

namespace podpath::server {

StreamClient::Wait StreamClient::next(StreamEventPtr& event, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, timeout, [this] { return ended_ || !queue_.empty(); });
  if (ended_) return Wait::Ended;
  if (queue_.empty()) return Wait::Timeout;
  event = std::move(queue_.front());
  queue_.pop_front();
  return Wait::Event;
}

bool StreamClient::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

bool StreamClient::push(const StreamEventPtr& event) {
  std::lock_guard lock(mutex_);
  if (ended_) return true;
  if (queue_.size() >= max_queued_) {
    ended_ = true;
    dropped_ = true;
    queue_.clear();
    ready_.notify_all();
    return false;
  }
  queue_.push_back(event);
  ready_.notify_all();
  return true;
}

void StreamClient::end(bool dropped) {
  std::lock_guard lock(mutex_);
  ended_ = true;
  dropped_ = dropped_ || dropped;
  queue_.clear();
  ready_.notify_all();
}

SnapshotHub::SnapshotHub(std::size_t max_clients, std::size_t max_queued)
    : snapshot_(std::make_shared<const AgentSnapshot>()), max_clients_(max_clients), max_queued_(max_queued) {
}

void SnapshotHub::publish(AgentSnapshotPtr snapshot, const StreamEventPtr& event) {
  std::lock_guard lock(mutex_);
  snapshot_ = std::move(snapshot);
  published_.notify_all();
  if (!event) return;
  for (auto it = clients_.begin(); it != clients_.end();) {
    if ((*it)->push(event)) {
      ++it;
    } else {
      ++dropped_;
      it = clients_.erase(it);
    }
  }
}

AgentSnapshotPtr SnapshotHub::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

AgentSnapshotPtr SnapshotHub::wait_newer(std::uint64_t monotonic_ns,
                                         std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  published_.wait_for(lock, timeout, [&] { return closed_ || snapshot_->monotonic_ns >= monotonic_ns; });
  return snapshot_;
}

std::shared_ptr<StreamClient> SnapshotHub::subscribe(AgentSnapshotPtr& start) {
  std::lock_guard lock(mutex_);
  start = snapshot_;
  if (closed_ || clients_.size() >= max_clients_) {
    ++refused_;
    return nullptr;
  }
  auto client = std::make_shared<StreamClient>(max_queued_);
  clients_.insert(client);
  return client;
}

void SnapshotHub::unsubscribe(const std::shared_ptr<StreamClient>& client) {
  std::lock_guard lock(mutex_);
  clients_.erase(client);
  client->end(false);
}

void SnapshotHub::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  published_.notify_all();
  for (const auto& c : clients_) c->end(false);
  clients_.clear();
}

StreamStats SnapshotHub::stats() const {
  std::lock_guard lock(mutex_);
  return StreamStats{clients_.size(), max_clients_, dropped_, refused_};
}

}  // namespace podpath::server

#pragma once
/// @file
/// @brief Where the main thread hands its results to the HTTP threads: the latest
/// immutable snapshot, and one bounded queue per stream client.
///
/// The main thread publishes after every refresh; it never waits for a client. A client
/// whose queue is full (it reads slower than the agent refreshes) is dropped: its thread
/// ends the stream, and nobody else notices.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/cluster.hpp"
#include "server/flow_snapshot.hpp"

namespace podpath::server {

/// @brief Everything the HTTP side serves, as of one refresh.
struct AgentSnapshot {
  std::uint64_t seq = 0;           ///< refreshes published so far (0: not attached yet)
  std::int64_t time = 0;           ///< unix seconds of the refresh
  std::uint64_t monotonic_ns = 0;  ///< CLOCK_MONOTONIC of the refresh
  std::string node;
  bool ready = false;  ///< attached and the inventory loaded
  std::string not_ready_reason;
  std::vector<FlowItemPtr> flows;  ///< busiest first
  nlohmann::json node_info;        ///< the body of /v1/node
  nlohmann::json nodes_info;       ///< the body of /v1/nodes (every node the process watches)
  /// @brief The kept drops, newest first, each a JSON object (docs/agent.md).
  std::shared_ptr<const std::vector<std::string>> drops;
  /// @brief The inventory the refresh used (POST /v1/check resolves its source pod in it).
  model::ClusterSnapshot cluster;
};
using AgentSnapshotPtr = std::shared_ptr<const AgentSnapshot>;

/// @brief What one refresh changed.
struct StreamEvent {
  std::uint64_t seq = 0;
  std::int64_t time = 0;
  std::uint64_t monotonic_ns = 0;
  std::vector<FlowItemPtr> changed;
  std::vector<FlowItemPtr> removed;
};
using StreamEventPtr = std::shared_ptr<const StreamEvent>;

/// @brief One stream client's queue.
class StreamClient {
 public:
  explicit StreamClient(std::size_t max_queued) : max_queued_(max_queued) {}

  enum class Wait { Event, Timeout, Ended };
  /// @brief The next event, waiting up to `timeout`; Ended once the client was dropped or
  /// the hub closed.
  Wait next(StreamEventPtr& event, std::chrono::milliseconds timeout);
  /// @brief The client was dropped for falling behind.
  [[nodiscard]] bool dropped() const;

 private:
  friend class SnapshotHub;
  /// Queues the event; false (and the client is dropped) when the queue is full.
  bool push(const StreamEventPtr& event);
  void end(bool dropped);

  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<StreamEventPtr> queue_;
  std::size_t max_queued_;
  bool ended_ = false;
  bool dropped_ = false;
};

/// @brief Stream statistics.
struct StreamStats {
  std::size_t active = 0;
  std::size_t max = 0;
  std::uint64_t dropped = 0;  ///< clients dropped for falling behind
  std::uint64_t refused = 0;  ///< clients refused at the bound (503)
};

/// @brief Events a stream client may have waiting: at 1 refresh/s, a client that has read
/// nothing for this many seconds is dropped (the agent's and the map's streams alike).
inline constexpr std::size_t kStreamQueue = 8;

class SnapshotHub {
 public:
  /// @brief At most `max_clients` streams, each with at most `max_queued` events waiting.
  SnapshotHub(std::size_t max_clients, std::size_t max_queued);

  /// @brief Main thread: the new snapshot, and the event for every stream client.
  void publish(AgentSnapshotPtr snapshot, const StreamEventPtr& event);
  [[nodiscard]] AgentSnapshotPtr snapshot() const;
  /// @brief The first snapshot whose monotonic_ns is at least `monotonic_ns`, waiting up to
  /// `timeout` for it; after the timeout (or once closed), the latest.
  [[nodiscard]] AgentSnapshotPtr wait_newer(std::uint64_t monotonic_ns,
                                            std::chrono::milliseconds timeout) const;

  /// @brief A new stream client and the snapshot it starts from (no event between the two
  /// is lost), or a null client when `max_clients` streams are open.
  std::shared_ptr<StreamClient> subscribe(AgentSnapshotPtr& start);
  void unsubscribe(const std::shared_ptr<StreamClient>& client);
  /// @brief Ends every stream (the agent is stopping); later subscriptions are refused.
  void close();

  [[nodiscard]] StreamStats stats() const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable published_;
  AgentSnapshotPtr snapshot_;
  std::set<std::shared_ptr<StreamClient>> clients_;
  std::size_t max_clients_;
  std::size_t max_queued_;
  std::uint64_t dropped_ = 0;
  std::uint64_t refused_ = 0;
  bool closed_ = false;
};

}  // namespace podpath::server

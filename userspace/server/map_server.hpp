#pragma once
/// @file
/// @brief The web map and the /v1 API served by a process that watches several nodes at
/// once: `podpath trace --lab NAME --web ADDR:PORT` (docs/web.md). It is the agent's HTTP
/// layer (listeners, limits, TLS and token rules, snapshot hub, server-sent events) fed with
/// every node: /v1/nodes lists them all, /v1/flows and /v1/flows/stream carry whole paths
/// across nodes, /v1/drops the drops of every node.
///
/// The caller refreshes and calls publish(); the HTTP threads only read what was published.
/// Any source of conversations can feed it (a live session through SessionMapFeed, or a
/// merge of several agents' flows): publish() works out what changed for the streams.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loader/session.hpp"
#include "server/drop_watch.hpp"
#include "server/flow_snapshot.hpp"
#include "server/listen_address.hpp"
#include "util/result.hpp"

namespace podpath::server {

/// @brief Where and how the map is served.
struct MapServerOptions {
  std::vector<ListenAddress> listen;  ///< --web; loopback unless credentials protect it
  CredentialFiles credentials;
  std::size_t max_streams = 16;
  std::string name;  ///< what the metrics call the process ("lab pp")
  std::string version;
};

/// @brief One refresh, as the map serves it.
struct MapRefresh {
  nlohmann::json nodes;                                   ///< the body of /v1/nodes
  std::vector<FlowItemPtr> flows;                         ///< every conversation, busiest first
  std::shared_ptr<const std::vector<std::string>> drops;  ///< newest first; may be null
};

class MapServer {
 public:
  /// @brief Checks the exposure rules (a non-loopback address needs TLS and client
  /// authentication, as for the agent), then listens. /readyz answers 503 until the first
  /// publish().
  static Result<std::unique_ptr<MapServer>> start(const MapServerOptions& options);
  ~MapServer();
  MapServer(const MapServer&) = delete;
  MapServer& operator=(const MapServer&) = delete;

  /// @brief Publishes a refresh; each stream receives the conversations whose content changed
  /// and the ids of those that are gone.
  void publish(MapRefresh refresh);
  /// @brief Counts a kernel drop in /metrics (`podpath_drops_total`), as the agent does.
  void count_drop(const std::string& reason, const std::string& role);
  /// @brief The bound addresses ("http://127.0.0.1:8080").
  [[nodiscard]] const std::vector<std::string>& urls() const;
  /// @brief Ends the streams and stops listening (also done by the destructor).
  void stop();

 private:
  struct Impl;
  explicit MapServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// @brief Turns a live session that watches every node into the map's refreshes: the
/// conversations with their whole paths, every node's /v1/node body, the gateway, and the
/// kernel drops of every watched node (once track_drops() started them).
class SessionMapFeed {
 public:
  SessionMapFeed(std::string version, std::vector<std::string> urls, double interval_s);
  ~SessionMapFeed();

  /// @brief Tracks kernel drops in every node the session watches (the agent's DropWatch);
  /// `on_kept` counts each (MapServer::count_drop).
  void track_drops(const loader::Session& session, DropWatch::OnKept on_kept);
  /// @brief Takes the drops the kernel reported meanwhile (a few times a second).
  void poll_drops();
  /// @brief After session.refresh(): what the map serves now.
  MapRefresh refresh(loader::Session& session);

 private:
  FlowSnapshotBuilder builder_{""};  // no node: whole paths
  std::unique_ptr<DropWatch> drops_;
  std::string version_;
  std::vector<std::string> urls_;
  double interval_s_;
  std::int64_t started_;
  std::uint64_t seq_ = 0;
};

}  // namespace podpath::server

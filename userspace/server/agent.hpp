#pragma once
/// @file
/// @brief `podpath agent`: one per node. It watches its node with the same session as
/// `podpath trace` (loader, aggregator, path composer) and serves what it sees over HTTP:
/// the read-only API under /v1, server-sent events, Prometheus metrics (docs/agent.md).
///
/// The main thread owns the session and refreshes it; after every refresh it publishes an
/// immutable snapshot that the HTTP threads read, and queues what changed for each stream
/// client. Nothing an HTTP client does can delay a refresh, and a refresh never waits for a
/// client.

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "loader/session.hpp"
#include "model/cluster.hpp"
#include "server/listen_address.hpp"
#include "util/result.hpp"

namespace podpath::server {

/// @brief Everything `podpath agent` is told.
struct AgentOptions {
  loader::SessionOptions session;  ///< inventory, attach options, map size, idle timeout
  std::string node;                ///< --node; empty: the only node, or the one whose namespace this is
  std::vector<ListenAddress> listen;
  std::optional<ListenAddress> metrics_listen;
  std::optional<std::filesystem::path> tls_cert;
  std::optional<std::filesystem::path> tls_key;
  std::optional<std::filesystem::path> tls_client_ca;
  std::optional<std::filesystem::path> token_file;
  double interval_s = 1.0;  ///< between refreshes (sooner when a new flow appears)
  std::size_t max_streams = 16;
  bool drops = true;  ///< track kernel drops (tp_btf/kfree_skb)
  std::string version;
};

/// @brief The default --listen.
inline constexpr const char* kDefaultListen = "127.0.0.1:9990";

/// @brief The node an agent watches: `requested` if given (it must exist); else the
/// cluster's only node; else the node whose network namespace the agent runs in (a lab
/// agent); else the node named like this host. Otherwise an error that lists the nodes.
Result<std::string> select_agent_node(const model::Cluster& cluster, const std::string& requested);

/// @brief Runs the agent until `stop` becomes true: checks the security rules (refusing to
/// start on a bad combination), starts the listeners, attaches, then refreshes and
/// publishes. `reload` set (SIGHUP) reloads the certificates and the token. `on_ready` is
/// called once, after the first refresh is published, with a one-line description.
/// Detaches before returning.
Result<void> run_agent(const AgentOptions& options, const std::atomic<bool>& stop, std::atomic<bool>& reload,
                       const std::function<void(const std::string&)>& on_ready);

}  // namespace podpath::server

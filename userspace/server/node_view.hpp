#pragma once
/// @file
/// @brief GET /v1/node: what a client needs to explain this node's hops and to align its
/// clock with other nodes' (docs/agent.md): the node, its interfaces and attach state, its
/// routing table, pod CIDR and CIDR table, health counters, the agent's version and the
/// offset from the monotonic clock to real time.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/counters.hpp"
#include "loader/session.hpp"

namespace podpath::server {

/// @brief About the agent itself.
struct AgentInfo {
  std::string version;
  std::vector<std::string> listen;  ///< API addresses, as bound
  std::string metrics_listen;       ///< "" when none
  std::int64_t started = 0;         ///< unix seconds
  std::string drops;                ///< how drops are tracked, or why not
  std::string capabilities;         ///< the main thread's effective set after start
  double interval_s = 1;
};

/// @brief The refresh the view is built after.
struct RefreshInfo {
  std::uint64_t seq = 0;
  double duration_s = 0;
  std::uint64_t monotonic_ns = 0;  ///< CLOCK_MONOTONIC, read together with:
  std::int64_t realtime_ns = 0;    ///< CLOCK_REALTIME
  std::size_t conversations = 0;
  std::optional<bpf::DropCounters> drop_counters;
  std::uint64_t drops_kept = 0;
  std::uint64_t drops_total = 0;
};

/// @brief The body of /v1/node (without "streams", which the handler adds live).
nlohmann::json node_json(const loader::Session& session, const std::string& node, const AgentInfo& agent,
                         const RefreshInfo& refresh);

/// @brief The underlay router as the session's topology knows it: {"name", "ip", "interface",
/// "routes" (as in /v1/node, empty for a cloud router podpath cannot read)}; null when there
/// is none (a node discovered on its own).
nlohmann::json gateway_json(const loader::Session& session);
/// @brief The same from a topology, the cluster that names its routes' owners, and its CIDRs
/// (the cluster view's).
nlohmann::json gateway_json(const flows::Topology& topology, const model::Cluster& cluster,
                            const inventory::CidrTable& cidrs);
/// @brief /v1/node's `pods`: the pods of `node` ({"name", "namespace", "pod", "ip", "veth",
/// "containers"}).
nlohmann::json pods_json(const model::Cluster& cluster, const std::string& node);

/// @brief The body of /v1/nodes: {"nodes": [the /v1/node bodies], "gateway": gateway_json()}.
/// An agent lists its own node; `trace --web` lists every node it watches (docs/web.md).
nlohmann::json nodes_json(nlohmann::json nodes, nlohmann::json gateway);

}  // namespace podpath::server

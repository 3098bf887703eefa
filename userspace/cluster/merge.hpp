#pragma once
/// @file
/// @brief Joins the agents' halves into one cluster: every agent's /v1/flows contributes
/// its own node's observation points, every agent's /v1/node its node's interfaces and
/// routing table. The result is what a single process watching every node has — flows
/// with their points, and a topology — so the same path composer and renderer explain it
/// (flows::compose_path, output::describe).
///
/// - Each node gets its own network-namespace "cookie" (1, 2, ... in the cluster's node
///   order), so an observation point is (node, ifindex, direction), as the agent reported it.
/// - A flow direction is keyed by its 5-tuple: the same direction reported by several agents
///   (each with its own hops) is one flow with the points of all of them, and its reply
///   pairs with it into one conversation, never two.
/// - Times (first/last seen) are moved onto the client's monotonic clock through each
///   agent's clock.offset_ns; offsets within 1 ms of the client's are the same clock (the
///   agents of a lab share one kernel) and are left as they are.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/agent_client.hpp"
#include "flows/flow_store.hpp"
#include "flows/path.hpp"
#include "model/cluster.hpp"
#include "net/route_table.hpp"
#include "util/result.hpp"

namespace podpath::cluster {

/// @brief The agents' view joined.
struct MergedCluster {
  flows::FlowStore flows;
  flows::Topology topology;
  /// @brief Nodes whose hops cannot be known, with why: "agent on node2 unreachable since
  /// 03:10:11", "no agent on node3".
  std::map<std::string, std::string> unknown;
  std::vector<std::string> without_agent;  ///< nodes of the cluster no agent watches
};

/// @brief The agents' states joined over `cluster` (names, gateway, underlay: the client's
/// inventory or Kubernetes API; may list no node when only the agents are known).
/// `client_offset_ns` is the client's real-time-minus-monotonic offset. Agents of the same
/// node: the first reachable one counts.
MergedCluster merge_agents(const model::Cluster& cluster, const std::vector<AgentState>& agents);

/// @brief Hops on an unknown node become HopState::Unknown with the reason as their note
/// ("unknown: agent on node2 unreachable since 03:10:11"), never "missing"; the verdict then
/// says so and `complete` counts the remaining hops only.
void mark_unknown(flows::Path& path, const std::map<std::string, std::string>& unknown);

/// @brief A routing table from /v1/node's `routes` (the data of `podpath routes --output json`).
Result<net::RouteTable> routes_from_json(const nlohmann::json& routes);

/// @brief `t` (an agent's monotonic nanoseconds) on the client's clock: moved by the agent's
/// offset minus the client's unless they are within 1 ms of each other; never below 1.
std::uint64_t align_time(std::uint64_t t, std::int64_t agent_offset_ns, std::int64_t client_offset_ns);

/// @brief "HH:MM:SS" in local time.
std::string clock_text(std::chrono::system_clock::time_point t);

/// @brief "agent on node2 unreachable since 03:10:11" (the error is the header's: ClusterView::problems).
std::string unreachable_reason(const AgentState& agent);

}  // namespace podpath::cluster

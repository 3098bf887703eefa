#pragma once
/// @file
/// @brief The map of `podpath trace --cluster --web` (docs/web.md): the cluster view (every
/// agent polled, their halves joined) turned into MapServer's refreshes. The process serves
/// the page on loopback and reads the agents over their own addresses (a lab's: unix sockets
/// across network namespaces), so nothing is routed towards the lab's networks.
///
/// - /v1/nodes: every agent's own /v1/node body, the gateway of the names' source, and each
///   node's `agent_state` ({"state": "reachable" | "unreachable" | "none", "since", "error",
///   "address"}). A node whose agent does not answer keeps the body it last served; one whose
///   agent never answered (or that has none) is drawn from the names' source, its pods with
///   it, and marked, never shown as an empty node.
/// - flows: the merged conversations with whole paths; hops on such nodes are "unknown".
/// - /v1/drops: every agent's drops, newest first.

#include <nlohmann/json.hpp>

#include "cluster/view.hpp"
#include "server/map_server.hpp"

namespace podpath::server {

/// @brief The cluster view as the map serves it.
MapRefresh cluster_map_refresh(const cluster::ClusterView& view);

/// @brief The agents' drops (their /v1/drops bodies) in one list, newest first, at most
/// kDropsKept; each drop's monotonic_ns moved onto this process's clock (cluster::align_time).
std::vector<std::string> merge_agent_drops(const std::vector<cluster::AgentState>& agents);

}  // namespace podpath::server

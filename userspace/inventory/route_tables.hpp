#pragma once
/// @file
/// @brief The routing tables of a cluster, as `podpath routes` shows them: every node's main
/// table read live inside its network namespace, and the gateway's.

#include <string>
#include <vector>

#include "inventory/source.hpp"
#include "model/cluster.hpp"
#include "net/route_table.hpp"
#include "util/result.hpp"

namespace podpath::inventory {

/// @brief One routing table and where it came from.
struct ClusterRouteTable {
  std::string name;                   ///< the node's name, or the gateway's
  std::string netns;                  ///< where it was read ("" = the host namespace)
  const model::Node* node = nullptr;  ///< nullptr for the gateway
  net::RouteTable table;
  bool from_inventory = false;  ///< the gateway's routes as the inventory lists them
};

/// @brief Every node's table (`only`: that node alone, or the gateway alone by its name), then
/// the gateway's: live from its namespace when that can be read, else as the inventory lists
/// it; a discovered node has no gateway to show. Errors: an unknown name, a node whose
/// routes cannot be read ("cannot read the routes of node1: ..."). The tables point into
/// `loaded`.
Result<std::vector<ClusterRouteTable>> cluster_route_tables(const LoadedCluster& loaded,
                                                            const std::string& only);

}  // namespace podpath::inventory

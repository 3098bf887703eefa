#pragma once
/// @file
/// @brief The kernel state behind a pair's expected path: the gateway's route to each end
/// (its real table next to the inventory's), the links the path crosses (up, carrier, MTU)
/// and neighbour entries that never resolved.

#include <optional>
#include <vector>

#include "check/evidence.hpp"
#include "flows/path.hpp"
#include "model/cluster.hpp"
#include "net/routes.hpp"

namespace podpath::check {

/// @brief The gateway's route to `dst` as the inventory expects it and as `actual` (its
/// real table, nullopt when unreadable) selects it. Pure.
GatewayRouteFact gateway_route_fact(const model::Gateway& gateway,
                                    const std::optional<net::RouteTable>& actual, const model::IpAddress& dst,
                                    const flows::Topology& topology);

/// @brief Unusable neighbour entries among `tables` (incomplete, failed) for `ips`. Pure.
std::vector<NeighbourFact> unresolved_neighbours(const Place& place, const net::NeighbourTables& tables,
                                                 const std::vector<model::IpAddress>& ips);

/// @brief Reads the state of every namespace on the evidence's paths (nodes, the gateway,
/// both pods) and fills gateway_to_dst/src, links and neighbours. Unreadable namespaces
/// are skipped (their facts are simply missing).
void gather_facts(Evidence& evidence, const model::Cluster& cluster, const flows::Topology& topology);

}  // namespace podpath::check

#pragma once
/// @file
/// @brief `podpath routes`: a node's routing table in `route -n` columns, each
/// destination annotated with what owns it (this node's pods, node2's pods, underlay,
/// docker0), and the same as JSON.

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "inventory/cidrs.hpp"
#include "inventory/route_tables.hpp"
#include "model/cluster.hpp"
#include "net/route_table.hpp"

namespace podpath::output {

/// @brief What a route's destination is, in a few words: "this node's pods", "node2's
/// pods", "underlay (node network)", "the gateway", "default: everything else, via the
/// gateway", "docker0 (unused)", "services", "IPv6 link-local"; empty when unknown.
/// `node` is the node whose table it is (nullptr for the gateway's table).
std::string route_owner(const net::Route& route, const model::Cluster& cluster, const model::Node* node,
                        const inventory::CidrTable* cidrs = nullptr);

/// @brief Gives the owner text of a route.
using RouteOwnerFn = std::function<std::string(const net::Route&)>;

/// @brief `route -n` (IPv4) with an Owner column after Iface; the first eight columns
/// are exactly route -n's.
std::string format_routes_annotated(const net::RouteTable& table, const RouteOwnerFn& owner);

/// @brief Every route (IPv4 and IPv6): destination, gateway, genmask (IPv4), flags,
/// metric, iface, scope, protocol, type, family, owner.
nlohmann::json routes_to_json(const net::RouteTable& table, const RouteOwnerFn& owner);

/// @brief Every table, each under a "# node NAME (netns ...)" line, annotated.
std::string render_route_tables(const std::vector<inventory::ClusterRouteTable>& tables,
                                const model::Cluster& cluster, const inventory::CidrTable* cidrs);
/// @brief [{"name","kind":"node"|"gateway","netns","source":"netlink"|"inventory","routes":[...]}].
nlohmann::json route_tables_to_json(const std::vector<inventory::ClusterRouteTable>& tables,
                                    const model::Cluster& cluster, const inventory::CidrTable* cidrs);

}  // namespace podpath::output

#include "inventory/route_tables.hpp"

#include <spdlog/spdlog.h>

#include "net/routes.hpp"

namespace podpath::inventory {
namespace {

/// The gateway's table, live from its namespace when possible, else from the inventory.
ClusterRouteTable gateway_table(const model::Cluster& cluster, const std::string& name) {
  const model::Gateway& gw = *cluster.gateway;
  if (!gw.netns.empty()) {
    auto table = net::read_routes(gw.netns);
    if (table) return {name, gw.netns, nullptr, std::move(*table), false};
    spdlog::warn("cannot read the gateway's routes live ({}); showing the inventory's",
                 table.error().to_string());
  }
  return {name, gw.netns, nullptr, net::gateway_route_table(gw, cluster.underlay), true};
}

}  // namespace

Result<std::vector<ClusterRouteTable>> cluster_route_tables(const LoadedCluster& loaded,
                                                            const std::string& only) {
  const model::Cluster& cluster = loaded.cluster;
  const std::string gateway_name =
      cluster.gateway ? (cluster.gateway->name.empty() ? "gateway" : cluster.gateway->name) : "";
  const bool want_gateway = cluster.gateway && (only.empty() || only == gateway_name);
  if (!only.empty() && cluster.find_node(only) == nullptr && !want_gateway) {
    return make_error(0, "{}", unknown_node_message(cluster, only));
  }
  // From the API, only this host's own node has a table podpath can read.
  const bool api = loaded.origin == ClusterOrigin::KubernetesApi;
  const std::string own = api && loaded.kube ? loaded.kube->own_node() : std::string();
  if (api && own.empty())
    return make_error(0,
                      "this host is none of the cluster's nodes: podpath routes reads the routing table of "
                      "the node it runs on (name it with --node if its name differs)");
  if (api && !only.empty() && only != own)
    return make_error(0, "node {} is another machine: run podpath routes there (this host is {})", only, own);
  std::vector<ClusterRouteTable> out;
  for (const auto& node : cluster.nodes) {
    if (!only.empty() && node.name != only) continue;
    if (api && node.name != own) continue;
    auto table = net::read_routes(node.netns);
    if (!table)
      return make_error(0, "cannot read the routes of {}: {}", node.name, table.error().to_string());
    out.push_back({node.name, node.netns, &node, std::move(*table), false});
  }
  if (want_gateway && (loaded.origin == ClusterOrigin::Lab || loaded.origin == ClusterOrigin::InventoryFile))
    out.push_back(gateway_table(cluster, gateway_name));
  return out;
}

}  // namespace podpath::inventory

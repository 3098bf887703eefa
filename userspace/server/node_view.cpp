#include "server/node_view.hpp"

#include <unistd.h>

#include <set>

#include "bpf/attach.hpp"
#include "output/routes_view.hpp"
#include "output/stats_view.hpp"

namespace podpath::server {
namespace {

using nlohmann::json;

json interfaces_json(const loader::Session& s, const model::Node* node) {
  json out = json::array();
  std::set<std::string> attached;
  for (const auto& i : s.loader().interfaces()) {
    attached.insert(i.name);
    out.push_back({{"name", i.name},
                   {"ifindex", i.ifindex},
                   {"role", model::to_string(i.role)},
                   {"pod", i.pod.empty() ? json(nullptr) : json(i.pod)},
                   {"attached", true}});
  }
  // The node's bridge and uplink as the inventory names them, when podpath could not attach.
  if (node != nullptr) {
    for (const auto& [name, role] : {std::pair{node->interfaces.bridge, model::InterfaceRole::Bridge},
                                     std::pair{node->interfaces.uplink, model::InterfaceRole::Uplink}}) {
      if (name.empty() || attached.count(name) != 0) continue;
      out.push_back({{"name", name},
                     {"ifindex", nullptr},
                     {"role", model::to_string(role)},
                     {"pod", nullptr},
                     {"attached", false}});
    }
  }
  return out;
}

json cidrs_json(const inventory::CidrTable& table) {
  json out = json::array();
  for (const auto& e : table.entries()) {
    out.push_back({{"id", e.id},
                   {"cidr", e.cidr.to_string()},
                   {"label", e.label},
                   {"kind", inventory::to_string(e.kind)},
                   {"node", e.node.empty() ? json(nullptr) : json(e.node)}});
  }
  return out;
}

}  // namespace

json gateway_json(const loader::Session& s) { return gateway_json(s.topology(), s.cluster(), s.cidrs()); }

json gateway_json(const flows::Topology& topology, const model::Cluster& cluster,
                  const inventory::CidrTable& cidrs) {
  const auto& gw = topology.gateway;
  if (!gw) return nullptr;
  return {{"name", gw->name},
          {"ip", gw->ip.to_string()},
          {"interface", gw->interface},
          {"routes", output::routes_to_json(gw->routes, [&](const net::Route& route) {
             return output::route_owner(route, cluster, nullptr, &cidrs);
           })}};
}

json pods_json(const model::Cluster& cluster, const std::string& node) {
  json out = json::array();
  for (const auto& p : cluster.pods) {
    if (p.node != node) continue;
    json containers = json::array();
    for (const auto& c : p.containers) containers.push_back(c.name);
    out.push_back({{"name", p.full_name()},
                   {"namespace", p.ns},
                   {"pod", p.name},
                   {"ip", p.ip.to_string()},
                   {"veth", p.veth.empty() ? json(nullptr) : json(p.veth)},
                   {"containers", containers}});
  }
  return out;
}

json nodes_json(json nodes, json gateway) {
  return {{"nodes", std::move(nodes)}, {"gateway", std::move(gateway)}};
}

json node_json(const loader::Session& s, const std::string& name, const AgentInfo& agent,
               const RefreshInfo& r) {
  const model::Cluster& cluster = s.cluster();
  const model::Node* node = cluster.find_node(name);
  const flows::PathNode* path_node = s.topology().find_node(name);
  json routes = json::array();
  if (path_node != nullptr) {
    routes = output::routes_to_json(path_node->routes, [&](const net::Route& route) {
      return output::route_owner(route, cluster, node, &s.cidrs());
    });
  }
  json j = {
      {"node", name},
      {"version", agent.version},
      {"clock",
       {{"monotonic_ns", r.monotonic_ns},
        {"realtime_ns", r.realtime_ns},
        {"offset_ns", r.realtime_ns - static_cast<std::int64_t>(r.monotonic_ns)}}},
      {"inventory", s.cluster_description()},
      {"attach", s.loader().describe()},
      {"attach_mode", bpf::to_string(s.loader().attach_mode())},
      {"pod_cidr", node != nullptr ? json(node->pod_cidr.to_string()) : json(nullptr)},
      {"underlay_ip", node != nullptr ? json(node->underlay_ip.to_string()) : json(nullptr)},
      {"bridge", path_node != nullptr ? json(path_node->bridge) : json(nullptr)},
      {"uplink", path_node != nullptr ? json(path_node->uplink) : json(nullptr)},
      {"interfaces", interfaces_json(s, node)},
      {"pods", pods_json(cluster, name)},
      {"routes", routes},
      {"cidrs", cidrs_json(s.cidrs())},
      {"health", output::health_to_json(s.counters())},
      {"flows", {{"tracked", s.aggregator().flows().size()}, {"conversations", r.conversations}}},
      {"drops",
       {{"mode", agent.drops},
        {"counters", r.drop_counters ? output::counters_to_json(*r.drop_counters) : json(nullptr)},
        {"kept", r.drops_kept},
        {"total", r.drops_total}}},
      {"refresh", {{"seq", r.seq}, {"interval_s", agent.interval_s}, {"duration_s", r.duration_s}}},
      {"agent",
       {{"pid", ::getpid()},
        {"started", agent.started},
        {"listen", agent.listen},
        {"metrics_listen", agent.metrics_listen.empty() ? json(nullptr) : json(agent.metrics_listen)},
        {"capabilities", agent.capabilities}}},
  };
  if (const auto& cc = s.container_counters()) j["container_health"] = output::counters_to_json(*cc);
  return j;
}

}  // namespace podpath::server

#include "output/routes_view.hpp"

#include <algorithm>

#include "output/text.hpp"
#include "util/text.hpp"

namespace podpath::output {

std::string route_owner(const net::Route& r, const model::Cluster& cluster, const model::Node* node,
                        const inventory::CidrTable* cidrs) {
  for (const auto& n : cluster.nodes) {
    if (n.pod_cidr.prefix_len == 0 || r.dst != n.pod_cidr) continue;
    if (node != nullptr && n.name == node->name) return "this node's pods";
    if (node == nullptr) return n.name + "'s pods (via " + n.name + ")";
    return n.name + "'s pods";
  }
  if (r.is_default()) {
    if (r.gateway && cluster.gateway && *r.gateway == cluster.gateway->ip)
      return "default: everything else, via the gateway";
    return r.gateway ? "default: everything else, via " + r.gateway->to_string() : "default: everything else";
  }
  if (cluster.underlay && r.dst == *cluster.underlay) return "underlay (node network)";
  if (r.is_host()) {
    if (cluster.gateway && r.dst.network == cluster.gateway->ip) return "the gateway";
    for (const auto& n : cluster.nodes) {
      if (r.dst.network == n.underlay_ip) return n.name;
    }
  }
  const bool is_docker =
      node != nullptr && !node->interfaces.docker.empty() && r.dev == node->interfaces.docker;
  const inventory::CidrEntry* entry = cidrs != nullptr ? cidrs->find(r.dst) : nullptr;
  if (is_docker || (entry != nullptr && entry->kind == inventory::CidrKind::Docker)) {
    const bool used = std::any_of(cluster.pods.begin(), cluster.pods.end(),
                                  [&](const model::Pod& p) { return r.dst.contains(p.ip); });
    return used ? "docker0" : "docker0 (unused)";
  }
  if (entry != nullptr) return entry->label;
  if (!r.dst.is_v4() && r.dst.prefix_len == 64 && r.dst.network.bytes[0] == 0xfe &&
      (r.dst.network.bytes[1] & 0xc0) == 0x80) {
    return "IPv6 link-local";
  }
  return {};
}

std::string format_routes_annotated(const net::RouteTable& table, const RouteOwnerFn& owner) {
  const auto rows = net::route_n_rows(table);
  std::size_t iface = 5;  // "Iface"
  for (const auto* r : rows) iface = std::max(iface, r->dev.empty() ? std::size_t{1} : r->dev.size());
  std::string out = "Kernel IP routing table\n";
  out += "Destination     Gateway         Genmask         Flags Metric Ref    Use " +
         pad_right("Iface", iface) + "  Owner\n";
  for (const auto* r : rows) {
    const std::string o = owner ? owner(*r) : std::string();
    std::string line = net::format_route_n_line(*r);
    if (!o.empty())
      line = pad_right(line, line.size() - (r->dev.empty() ? 1 : r->dev.size()) + iface) + "  " + o;
    out += printable(line) + "\n";  // interface and node names are not ours
  }
  return out;
}

nlohmann::json routes_to_json(const net::RouteTable& table, const RouteOwnerFn& owner) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : table.routes()) {
    nlohmann::json j = {
        {"destination", r.dst.to_string()},
        {"gateway", r.gateway ? nlohmann::json(r.gateway->to_string()) : nlohmann::json(nullptr)},
        {"flags", r.flags()},
        {"metric", r.metric},
        {"iface", r.dev.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.dev)},
        {"scope", net::route_scope_name(r.scope)},
        {"protocol", net::route_protocol_name(r.protocol)},
        {"type", net::route_type_name(r.type)},
        {"family", r.dst.is_v4() ? "inet" : "inet6"},
        {"owner", owner ? owner(r) : std::string()}};
    if (r.dst.is_v4()) j["genmask"] = r.dst.netmask().to_string();
    if (r.prefsrc) j["src"] = r.prefsrc->to_string();
    out.push_back(std::move(j));
  }
  return out;
}

namespace {

RouteOwnerFn owner_fn(const model::Cluster& cluster, const inventory::ClusterRouteTable& t,
                      const inventory::CidrTable* cidrs) {
  return
      [&cluster, node = t.node, cidrs](const net::Route& r) { return route_owner(r, cluster, node, cidrs); };
}

}  // namespace

std::string render_route_tables(const std::vector<inventory::ClusterRouteTable>& tables,
                                const model::Cluster& cluster, const inventory::CidrTable* cidrs) {
  std::string out;
  for (std::size_t i = 0; i < tables.size(); ++i) {
    const auto& t = tables[i];
    if (i > 0) out += "\n";
    out += printable("# " + std::string(t.node != nullptr ? "node " : "") + t.name + " (" +
                     (t.netns.empty() ? "host network namespace" : "netns " + t.netns) +
                     (t.from_inventory ? ", routes from the inventory" : "") + ")") +
           "\n";
    out += format_routes_annotated(t.table, owner_fn(cluster, t, cidrs));
  }
  return out;
}

nlohmann::json route_tables_to_json(const std::vector<inventory::ClusterRouteTable>& tables,
                                    const model::Cluster& cluster, const inventory::CidrTable* cidrs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : tables) {
    out.push_back({{"name", t.name},
                   {"kind", t.node != nullptr ? "node" : "gateway"},
                   {"netns", t.netns},
                   {"source", t.from_inventory ? "inventory" : "netlink"},
                   {"routes", routes_to_json(t.table, owner_fn(cluster, t, cidrs))}});
  }
  return out;
}

}  // namespace podpath::output

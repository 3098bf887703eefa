#include "check/facts.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "net/links.hpp"

namespace podpath::check {
namespace {

constexpr std::uint16_t kNudIncomplete = 0x01;
constexpr std::uint16_t kNudFailed = 0x20;

std::string brief(const net::Route& r) {
  std::string s = r.dst.to_string();
  if (r.gateway) s += " via " + r.gateway->to_string();
  return s;
}

Place node_place(const model::Node& n) { return {PlaceKind::Node, n.name, ""}; }
Place pod_place(const model::Pod& p) { return {PlaceKind::Pod, p.full_name(), p.node}; }

bool hop_uses_gateway(const PathReport& path) {
  return std::any_of(path.hops.begin(), path.hops.end(),
                     [](const HopReport& h) { return h.hop.role == model::InterfaceRole::Gateway; });
}

}  // namespace

GatewayRouteFact gateway_route_fact(const model::Gateway& gateway,
                                    const std::optional<net::RouteTable>& actual, const model::IpAddress& dst,
                                    const flows::Topology& topology) {
  GatewayRouteFact f;
  f.gateway = gateway.name.empty() ? "gateway" : gateway.name;
  f.gateway_ip = gateway.ip;
  f.dst = dst;
  const model::GatewayRoute* best = nullptr;
  for (const auto& r : gateway.routes) {
    if (r.dst.contains(dst) && (best == nullptr || r.dst.prefix_len > best->dst.prefix_len)) best = &r;
  }
  if (best != nullptr) {
    f.cidr = best->dst;
    f.expected = fmt::format("{} via {}", best->dst.to_string(), best->via.to_string());
    if (const auto* n = topology.node_with_address(best->via)) f.expected_node = n->name;
  }
  if (actual) {
    f.read = true;
    if (const net::Route* r = actual->lookup(dst)) {
      f.actual = brief(*r);
      f.reject = r->is_reject() || r->type == net::kTypeBlackhole;
      if (f.reject) f.actual = r->to_string();
      f.actual_via = r->gateway;
      if (r->gateway) {
        if (const auto* n = topology.node_with_address(*r->gateway)) f.actual_node = n->name;
      } else if (const auto* n = topology.node_with_address(dst)) {
        f.actual_node = n->name;
      }
      if (!f.cidr) f.cidr = r->dst;
    }
  }
  return f;
}

std::vector<NeighbourFact> unresolved_neighbours(const Place& place, const net::NeighbourTables& tables,
                                                 const std::vector<model::IpAddress>& ips) {
  std::vector<NeighbourFact> out;
  for (const auto& n : tables.neighbours) {
    if (std::find(ips.begin(), ips.end(), n.ip) == ips.end()) continue;
    if ((n.state & (kNudIncomplete | kNudFailed)) == 0) continue;
    out.push_back({place, n.dev, n.ip, (n.state & kNudFailed) != 0 ? "failed" : "incomplete"});
  }
  return out;
}

void gather_facts(Evidence& ev, const model::Cluster& cluster, const flows::Topology& topology) {
  // Nodes the paths cross, and the interfaces they cross there.
  std::map<std::string, std::set<std::string>> on_path;
  for (const PathReport* path : {&ev.request, &ev.reply}) {
    for (const auto& h : path->hops) {
      if (h.hop.role != model::InterfaceRole::Gateway && cluster.find_node(h.hop.node) != nullptr)
        on_path[h.hop.node].insert(h.hop.interface);
    }
  }
  std::vector<model::IpAddress> next_hops = {ev.dst.ip, ev.src.ip};
  if (cluster.gateway) next_hops.push_back(cluster.gateway->ip);
  for (const auto& [node_name, ifaces] : on_path) {
    const model::Node* node = cluster.find_node(node_name);
    const Place place = node_place(*node);
    auto links = net::list_links(node->netns);
    if (!links) {
      spdlog::debug("check: cannot read links of {}: {}", node_name, links.error().to_string());
      continue;
    }
    for (const auto& name : ifaces) {
      const net::Link* l = net::find_link(*links, name);
      if (l == nullptr) continue;
      LinkFact f;
      f.place = place;
      f.ifname = l->name;
      f.up = l->is_up();
      f.running = l->is_running();
      f.oper_state = l->oper_state;
      f.mtu = l->mtu;
      f.on_path = true;
      for (const auto& [ref, iface] : topology.interfaces) {
        if (iface.node == node_name && iface.name == name) {
          f.role = iface.role;
          f.pod = iface.pod;
        }
      }
      for (const auto& p : cluster.pods) {
        if (p.node == node_name && p.veth == name) {
          f.role = model::InterfaceRole::PodVeth;
          f.pod = p.full_name();
        }
      }
      ev.links.push_back(std::move(f));
    }
    if (auto neigh = net::read_neighbours(node->netns)) {
      auto facts = unresolved_neighbours(place, *neigh, next_hops);
      ev.neighbours.insert(ev.neighbours.end(), facts.begin(), facts.end());
    }
  }
  // The pods' own side of their veths.
  for (const flows::Endpoint* e : {&ev.src, &ev.dst}) {
    if (e->pod == nullptr || e->pod->netns.empty()) continue;
    auto links = net::list_links(e->pod->netns);
    if (!links) continue;
    for (const auto& l : *links) {
      if (l.is_loopback() || !l.is_veth()) continue;
      ev.links.push_back({pod_place(*e->pod), l.name, model::InterfaceRole::Other, e->pod->full_name(),
                          l.is_up(), l.is_running(), l.oper_state, l.mtu, true});
    }
  }
  // The gateway's real table, when the paths cross it and the lab says where it lives.
  if (cluster.gateway && (hop_uses_gateway(ev.request) || hop_uses_gateway(ev.reply))) {
    std::optional<net::RouteTable> table;
    if (!cluster.gateway->netns.empty()) {
      if (auto t = net::read_routes(cluster.gateway->netns)) {
        table = std::move(*t);
      } else {
        spdlog::debug("check: cannot read the gateway's routes: {}", t.error().to_string());
      }
    }
    if (hop_uses_gateway(ev.request))
      ev.gateway_to_dst = gateway_route_fact(*cluster.gateway, table, ev.dst.ip, topology);
    if (hop_uses_gateway(ev.reply))
      ev.gateway_to_src = gateway_route_fact(*cluster.gateway, table, ev.src.ip, topology);
  }
}

}  // namespace podpath::check

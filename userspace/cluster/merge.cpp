#include "cluster/merge.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <set>

#include "cluster/json_fields.hpp"

namespace podpath::cluster {
namespace {

using nlohmann::json;

constexpr std::int64_t kSameClockNs = 1'000'000;

// `ip route` names back to numbers: the net layer's name functions, inverted.
std::optional<std::uint8_t> from_name(const std::string& name, std::string (*fn)(std::uint8_t)) {
  for (unsigned v = 0; v < 256; ++v) {
    if (fn(static_cast<std::uint8_t>(v)) == name) return static_cast<std::uint8_t>(v);
  }
  return std::nullopt;
}

model::InterfaceRole role_from(const std::string& text) {
  for (const auto role : {model::InterfaceRole::PodVeth, model::InterfaceRole::Bridge,
                          model::InterfaceRole::Uplink, model::InterfaceRole::Gateway}) {
    if (text == model::to_string(role)) return role;
  }
  return model::InterfaceRole::Other;
}

// The node as the agent describes it, for a node the client's cluster does not list.
model::Node node_from_json(const json& j) {
  model::Node n;
  n.name = str(j, "node");
  if (auto ip = model::IpAddress::parse(str(j, "underlay_ip"))) n.underlay_ip = *ip;
  if (auto c = model::Cidr::parse(str(j, "pod_cidr"))) n.pod_cidr = *c;
  n.interfaces.bridge = str(j, "bridge");
  n.interfaces.uplink = str(j, "uplink");
  return n;
}

struct AgentOf {
  const AgentState* agent = nullptr;
  std::uint64_t cookie = 0;
};

// One direction of an agent's conversation: its points into `store`.
void add_direction(flows::FlowStore& store, const model::FlowKey& key, const json& dir, const AgentOf& of,
                   std::int64_t agent_offset) {
  if (!dir.is_object() || !dir.contains("hops") || !dir["hops"].is_array()) return;
  std::uint32_t pos = store.position(key);
  const auto tcp_flags = num<std::uint32_t>(dir, "tcp_flags").value_or(0);
  for (const auto& hop : dir["hops"]) {
    if (!hop.is_object() || !hop.value("observed", false)) continue;
    const auto ifindex = num<std::uint32_t>(hop, "ifindex");
    if (!ifindex) continue;
    flows::PointStats p;
    p.point.netns_cookie = of.cookie;
    p.point.ifindex = *ifindex;
    p.point.direction =
        str(hop, "direction") == "egress" ? model::Direction::Egress : model::Direction::Ingress;
    p.packets = p.stats.packets = num<std::uint64_t>(hop, "packets").value_or(0);
    p.bytes = p.stats.bytes = num<std::uint64_t>(hop, "bytes").value_or(0);
    p.pps = num<double>(hop, "pps").value_or(0);
    p.bps = num<double>(hop, "bps").value_or(0);
    p.stats.tcp_flags = tcp_flags;
    const std::int64_t client = of.agent->client_offset_ns;
    if (auto t = num<std::uint64_t>(hop, "first_seen_ns"))
      p.stats.first_seen_ns = align_time(*t, agent_offset, client);
    if (auto t = num<std::uint64_t>(hop, "last_seen_ns"))
      p.stats.last_seen_ns = align_time(*t, agent_offset, client);
    p.last_active_ns = p.stats.last_seen_ns;
    if (pos == flows::FlowStore::kNone) {
      pos = store.insert(key);
      store[pos].key = key;
    }
    auto& points = store[pos].points;
    auto at = std::lower_bound(
        points.begin(), points.end(), p.point,
        [](const flows::PointStats& a, const model::ObservationPoint& b) { return a.point < b; });
    if (at != points.end() && at->point == p.point) {
      if (p.packets > at->packets) *at = p;  // the same point twice: keep the larger count
    } else {
      points.insert(at, p);
    }
  }
  if (pos != flows::FlowStore::kNone) store[pos].settle_times();
}

std::optional<model::FlowKey> forward_key(const json& c) {
  const auto src = model::IpAddress::parse(str(c.value("forward", json::object()), "src"));
  const auto dst = model::IpAddress::parse(str(c.value("forward", json::object()), "dst"));
  const auto proto = num<unsigned>(c, "proto_number");
  if (!src || !dst || !proto || *proto > 255) return std::nullopt;
  model::FlowKey k;
  k.src = *src;
  k.dst = *dst;
  k.proto = static_cast<std::uint8_t>(*proto);
  k.sport = num<std::uint16_t>(c, "sport").value_or(0);
  k.dport = num<std::uint16_t>(c, "dport").value_or(0);
  k.fragment = c.value("fragment", false);
  return k;
}

}  // namespace

std::string clock_text(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  return fmt::format("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string unreachable_reason(const AgentState& agent) {
  std::string out = "agent on " + agent.name() + " unreachable";
  if (agent.unreachable_since) out += " since " + clock_text(*agent.unreachable_since);
  return out;
}

std::uint64_t align_time(std::uint64_t t, std::int64_t agent_offset_ns, std::int64_t client_offset_ns) {
  if (t == 0) return 0;
  const std::int64_t shift = agent_offset_ns - client_offset_ns;
  if (std::llabs(shift) < kSameClockNs) return t;
  const std::int64_t moved = static_cast<std::int64_t>(t) + shift;
  return moved < 1 ? 1 : static_cast<std::uint64_t>(moved);
}

Result<net::RouteTable> routes_from_json(const json& routes) {
  if (!routes.is_array()) return Error{"/v1/node: 'routes' is not a list"};
  net::RouteTable table;
  for (const auto& j : routes) {
    net::Route r;
    const auto dst = model::Cidr::parse(str(j, "destination"));
    if (!dst) return Error{"/v1/node: route destination '" + str(j, "destination") + "' does not parse"};
    r.dst = *dst;
    if (const auto gw = str(j, "gateway"); !gw.empty()) {
      const auto ip = model::IpAddress::parse(gw);
      if (!ip) return Error{"/v1/node: route gateway '" + gw + "' does not parse"};
      r.gateway = *ip;
    }
    r.dev = str(j, "iface");
    r.metric = num<std::uint32_t>(j, "metric").value_or(0);
    if (auto v = from_name(str(j, "scope"), net::route_scope_name)) r.scope = *v;
    if (auto v = from_name(str(j, "protocol"), net::route_protocol_name)) r.protocol = *v;
    if (auto v = from_name(str(j, "type"), net::route_type_name)) r.type = *v;
    if (auto src = model::IpAddress::parse(str(j, "src"))) r.prefsrc = *src;
    table.add(std::move(r));
  }
  return table;
}

MergedCluster merge_agents(const model::Cluster& cluster, const std::vector<AgentState>& agents) {
  MergedCluster out;
  // One agent per node: the first reachable, else the first that ever answered, else the first.
  std::map<std::string, const AgentState*> by_node;
  for (const auto& a : agents) {
    const std::string name = a.name();
    auto& slot = by_node[name];
    const auto rank = [](const AgentState* s) {
      return s == nullptr ? 0 : s->reachable ? 3 : s->ever_reached ? 2 : 1;
    };
    if (rank(&a) > rank(slot)) slot = &a;
  }
  // Node order: the cluster's, then the agents' nodes it does not list.
  std::vector<std::string> order;
  for (const auto& n : cluster.nodes) order.push_back(n.name);
  for (const auto& [name, agent] : by_node) {
    if (std::find(order.begin(), order.end(), name) == order.end() && !agent->node.empty())
      order.push_back(name);
  }
  std::map<std::string, AgentOf> of;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const auto it = by_node.find(order[i]);
    of[order[i]] = AgentOf{it != by_node.end() ? it->second : nullptr, i + 1};
  }

  // The topology: every node an agent described (its routes, even when it stopped answering:
  // the last ones it served), the others assumed like the first described one.
  const model::Node* like = nullptr;
  std::vector<model::Node> described;  // nodes the cluster does not list, as their agents describe them
  described.reserve(order.size());
  for (const auto& name : order) {
    const AgentOf& a = of[name];
    if (a.agent == nullptr || !a.agent->ever_reached) continue;
    const json& nj = a.agent->node_json;
    const model::Node* node = cluster.find_node(name);
    if (node == nullptr) node = &described.emplace_back(node_from_json(nj));
    if (like == nullptr) like = node;
    auto routes = routes_from_json(nj.value("routes", json::array()));
    if (!routes) continue;
    auto pn = flows::PathNode::from(*node, std::move(*routes));
    if (const auto b = str(nj, "bridge"); !b.empty()) pn.bridge = b;
    if (const auto u = str(nj, "uplink"); !u.empty()) pn.uplink = u;
    out.topology.nodes.push_back(std::move(pn));
    for (const auto& i : nj.value("interfaces", json::array())) {
      const auto ifindex = num<std::uint32_t>(i, "ifindex");
      if (!ifindex) continue;
      flows::ObservedInterface oi;
      oi.node = name;
      oi.name = str(i, "name");
      oi.role = role_from(str(i, "role"));
      oi.pod = str(i, "pod");
      out.topology.interfaces[flows::InterfaceRef{a.cookie, *ifindex}] = std::move(oi);
    }
  }
  if (cluster.gateway) out.topology.gateway = flows::PathGateway::from(*cluster.gateway, cluster.underlay);
  for (const auto& node : cluster.nodes) {
    if (out.topology.find_node(node.name) != nullptr || like == nullptr) continue;
    std::optional<model::IpAddress> gw;
    if (cluster.gateway) gw = cluster.gateway->ip;
    out.topology.nodes.push_back(flows::PathNode::assumed(node, *like, cluster.underlay, gw));
  }

  // Which nodes cannot be known, and why.
  for (const auto& name : order) {
    const AgentOf& a = of[name];
    if (a.agent == nullptr) {
      out.without_agent.push_back(name);
      out.unknown[name] = "no agent on " + name;
    } else if (!a.agent->reachable) {
      out.unknown[name] = unreachable_reason(*a.agent);
    }
  }

  // The flows: each reachable agent's directions, keyed by 5-tuple.
  for (const auto& name : order) {
    const AgentOf& a = of[name];
    if (a.agent == nullptr || !a.agent->reachable) continue;
    const auto offset = num<std::int64_t>(a.agent->node_json.value("clock", json::object()), "offset_ns")
                            .value_or(a.agent->client_offset_ns);
    for (const auto& c : a.agent->flows_json.value("flows", json::array())) {
      const auto key = forward_key(c);
      if (!key) continue;
      add_direction(out.flows, *key, c.value("forward", json()), a, offset);
      const json& rev = c.value("reverse", json());
      if (!rev.is_object()) continue;
      // The reply's key: the forward one reversed (ICMP: echo reply), unless the addresses say
      // otherwise (a direction joined across a NAT).
      model::FlowKey rk = key->reversed();
      const auto rs = model::IpAddress::parse(str(rev, "src"));
      const auto rd = model::IpAddress::parse(str(rev, "dst"));
      if (rs && rd && (*rs != rk.src || *rd != rk.dst)) {
        rk.src = *rs;
        rk.dst = *rd;
      }
      add_direction(out.flows, rk, rev, a, offset);
    }
  }
  return out;
}

void mark_unknown(flows::Path& path, const std::map<std::string, std::string>& unknown) {
  if (unknown.empty()) return;
  const std::string* reason = nullptr;
  const flows::Hop* last_seen = nullptr;
  for (auto& h : path.hops) {
    const auto it = unknown.find(h.node);
    if (it == unknown.end() || h.observed() || h.state == flows::HopState::Virtual) {
      if (h.observed() && reason == nullptr) last_seen = &h;
      continue;
    }
    h.state = flows::HopState::Unknown;
    h.stats.reset();
    h.note = "unknown: " + it->second;
    if (reason == nullptr) reason = &it->second;
  }
  if (reason == nullptr) return;
  path.complete = std::none_of(path.hops.begin(), path.hops.end(),
                               [](const flows::Hop& h) { return h.state == flows::HopState::Missing; });
  path.verdict = "unknown: " + *reason;
  if (last_seen != nullptr)
    path.verdict += fmt::format("; seen up to {} {} {}", last_seen->node, last_seen->interface,
                                flows::to_string(last_seen->direction));
}

}  // namespace podpath::cluster

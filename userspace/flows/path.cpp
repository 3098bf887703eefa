#include "flows/path.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace podpath::flows {
namespace {

using model::InterfaceRole;

/// Longer than any sane path; a routing loop stops here.
constexpr std::size_t kMaxHops = 32;

std::string short_pod_name(const Endpoint& e) {
  if (e.pod != nullptr) return e.pod->name;
  return e.name;
}

/// "10.10.130.0/24 via 10.0.0.3": a route without its device, for prose.
std::string route_brief(const net::Route& r) {
  std::string s = r.dst.to_string();
  if (r.gateway) s += " via " + r.gateway->to_string();
  return s;
}

/// Walks the forwarding model from the source to the destination and records the hops
/// the packet is expected to cross.
class Walker {
 public:
  Walker(const Endpoint& src, const Endpoint& dst, const Topology& topo)
      : src_(src), dst_(dst), topo_(topo) {}

  Path walk() {
    start();
    Path p;
    p.hops = std::move(hops_);
    p.verdict = stopped_ ? std::move(loop_verdict_) : std::move(verdict_);
    return p;
  }

 private:
  void start() {
    const PathNode* node = topo_.find_node(src_.node);
    if (src_.kind == EndpointKind::Pod && node != nullptr) {
      add(node->name, pod_veth(src_, *node), HopDirection::Ingress, InterfaceRole::PodVeth, "",
          "from pod " + short_pod_name(src_));
      from_pod(*node);
    } else if (src_.kind == EndpointKind::Node && node != nullptr) {
      originate(*node);
    } else if (topo_.gateway) {
      through_gateway(src_.kind == EndpointKind::Gateway ? "from the gateway itself"
                                                         : "from " + src_.name + ", outside the cluster");
    } else if (const PathNode* dnode = topo_.find_node(dst_.node)) {
      arrive(*dnode, "from " + src_.name + ", outside the cluster");
    } else {
      verdict_ = "neither " + src_.ip.to_string() + " nor " + dst_.ip.to_string() + " is on a known node";
    }
  }

  /// The packet left a pod into the node's bridge.
  void from_pod(const PathNode& node) {
    if (stopped_) return;
    const bool on_link = node.pod_cidr && node.pod_cidr->contains(dst_.ip) && !node.is_local(dst_.ip);
    if (on_link) {
      // The pod's own table puts its pod CIDR on-link: the bridge switches the frame
      // from port to port and the bridge device's own hooks never see it.
      const net::Route* r = node.routes.lookup(dst_.ip);
      std::string how = "bridged on " + node.bridge;
      if (r != nullptr) how += ", " + r->to_string() + owner_suffix(node, *r);
      if (dst_.kind == EndpointKind::Pod && dst_.node == node.name && dst_.pod != nullptr) {
        add(node.name, pod_veth(dst_, node), HopDirection::Egress, InterfaceRole::PodVeth,
            r != nullptr ? r->to_string() : "", "to pod " + short_pod_name(dst_) + "; " + how);
        verdict_ = "delivered to pod " + dst_.name + " on " + node.name + " (same node, bridged)";
      } else {
        verdict_ = "no pod on " + node.name + " holds " + dst_.ip.to_string() + " (" + how +
                   "): nothing answers ARP for it";
      }
      return;
    }
    add(node.name, node.bridge, HopDirection::Ingress, InterfaceRole::Bridge, "", "");
    decide(node);
  }

  /// The packet is in `node`'s host stack after the last (ingress) hop: local delivery
  /// or a route decision.
  void decide(const PathNode& node) {
    if (stopped_) return;
    Hop& in = hops_.back();
    const std::string dst = dst_.ip.to_string();
    if (node.is_local(dst_.ip)) {
      append_note(in, dst + " is local: delivered to " + node.name);
      verdict_ = "delivered to " + node.name + " (" + dst + ")";
      return;
    }
    if (dst_.kind == EndpointKind::Service) {
      append_note(in, dst + " is a service address: kube-proxy rewrites it (DNAT) before routing");
      verdict_ = "service " + dst + ": the rest of the path belongs to the flow to the chosen backend";
      return;
    }
    const net::Route* r = node.routes.lookup(dst_.ip);
    if (r == nullptr) {
      append_note(in, "no route to " + dst + " on " + node.name);
      verdict_ = "dropped on " + node.name + ": no route to " + dst + " (Network is unreachable)";
      return;
    }
    in.route = r->to_string();
    if (r->is_reject() || r->type == net::kTypeBlackhole) {
      append_note(in, "route " + r->to_string() + ": dropped");
      verdict_ = "dropped on " + node.name + " by route " + r->to_string();
      return;
    }
    // An ingress hop that already tells where the packet came from leaves the route to
    // the egress hop, which names it.
    if (in.note.empty()) in.note = dst + " not local; route " + r->to_string() + owner_suffix(node, *r);
    send(node, *r, "");
  }

  /// A packet originating in `node`'s own stack.
  void originate(const PathNode& node) {
    const std::string dst = dst_.ip.to_string();
    if (node.is_local(dst_.ip)) {
      verdict_ = "local to " + node.name + ": never leaves the host (loopback)";
      return;
    }
    const net::Route* r = node.routes.lookup(dst_.ip);
    if (r == nullptr) {
      verdict_ = "not sent by " + node.name + ": no route to " + dst + " (Network is unreachable)";
      return;
    }
    if (r->is_reject() || r->type == net::kTypeBlackhole) {
      verdict_ = "not sent by " + node.name + ": route " + r->to_string();
      return;
    }
    send(node, *r, "from " + node.name + " (host); ");
  }

  /// Out of `node` by route `r`.
  void send(const PathNode& node, const net::Route& r, const std::string& prefix) {
    if (stopped_) return;
    const std::string dst = dst_.ip.to_string();
    if (r.dev == node.bridge) {
      add(node.name, node.bridge, HopDirection::Egress, InterfaceRole::Bridge, r.to_string(),
          prefix + "route " + r.to_string() + owner_suffix(node, r));
      if (dst_.kind == EndpointKind::Pod && dst_.node == node.name && dst_.pod != nullptr) {
        add(node.name, pod_veth(dst_, node), HopDirection::Egress, InterfaceRole::PodVeth, "",
            "to pod " + short_pod_name(dst_));
        verdict_ = "delivered to pod " + dst_.name + " on " + node.name;
      } else {
        verdict_ = "sent out of " + node.name + " " + node.bridge + ", but no known pod on " + node.name +
                   " holds " + dst;
      }
      return;
    }
    const model::IpAddress next = r.gateway.value_or(dst_.ip);
    if (r.dev != node.uplink) {
      add(node.name, r.dev, HopDirection::Egress, InterfaceRole::Other, r.to_string(),
          prefix + "route " + r.to_string());
      verdict_ = "sent out of " + node.name + " " + r.dev + " towards " + next.to_string();
      return;
    }
    const bool to_gateway = topo_.gateway && topo_.gateway->ip == next;
    const PathNode* peer = topo_.node_with_address(next);
    std::string note = prefix;
    if (to_gateway) {
      note += "→ gateway " + next.to_string();
    } else if (peer != nullptr) {
      note += "→ " + peer->name + " " + next.to_string() + " (underlay)";
    } else {
      note += "→ " + next.to_string();
    }
    add(node.name, node.uplink, HopDirection::Egress, InterfaceRole::Uplink, r.to_string(), note);
    if (to_gateway) {
      through_gateway("");
    } else if (peer != nullptr && peer != &node) {
      arrive(*peer, "← " + node.name + " (underlay, directly)");
    } else {
      verdict_ = "leaves " + node.name + " via " + node.uplink + " towards " + next.to_string() +
                 (dst_.kind == EndpointKind::External ? " (outside the cluster)" : "");
    }
  }

  /// Through the unobserved underlay router.
  void through_gateway(const std::string& prefix) {
    if (stopped_) return;
    const PathGateway& gw = *topo_.gateway;
    const std::string dst = dst_.ip.to_string();
    const std::string name = gw.name.empty() ? "gateway" : gw.name;
    if (gw.ip == dst_.ip) {
      add(name, gw.interface, HopDirection::Forward, InterfaceRole::Gateway, "",
          prefix + "delivered to the gateway");
      verdict_ = "delivered to the gateway " + dst;
      return;
    }
    if (gw.routes.empty()) {
      add(name, gw.interface, HopDirection::Forward, InterfaceRole::Gateway, "",
          join(prefix, "gateway " + gw.ip.to_string() + " (its routes are unknown; not observed)"));
      if (const PathNode* dnode = topo_.find_node(dst_.node)) {
        arrive(*dnode, "← " + gw.ip.to_string() + " (gateway)");
      } else {
        verdict_ = "handed to the gateway " + gw.ip.to_string() + " (outside the cluster)";
      }
      return;
    }
    const net::Route* r = gw.routes.lookup(dst_.ip);
    if (r == nullptr) {
      add(name, gw.interface, HopDirection::Forward, InterfaceRole::Gateway, "",
          join(prefix, "the gateway has no route to " + dst + " (not observed)"));
      verdict_ = "leaves the cluster at the gateway " + gw.ip.to_string() + ": it has no route to " + dst;
      return;
    }
    add(name, r->dev.empty() ? gw.interface : r->dev, HopDirection::Forward, InterfaceRole::Gateway,
        r->to_string(), join(prefix, "route " + route_brief(*r) + " (not observed)"));
    const model::IpAddress next = r->gateway.value_or(dst_.ip);
    if (const PathNode* peer = topo_.node_with_address(next)) {
      arrive(*peer, "← " + gw.ip.to_string() + " (gateway route " + route_brief(*r) + ")");
    } else {
      verdict_ = "leaves the cluster at the gateway " + gw.ip.to_string() + " towards " + next.to_string();
    }
  }

  /// Into `node` through its uplink.
  void arrive(const PathNode& node, const std::string& note) {
    if (stopped_) return;
    add(node.name, node.uplink, HopDirection::Ingress, InterfaceRole::Uplink, "", note);
    decide(node);
  }

  void add(const std::string& node, const std::string& iface, HopDirection dir, InterfaceRole role,
           const std::string& route, const std::string& note) {
    if (stopped_) return;
    if (hops_.size() >= kMaxHops || !seen_.insert({node, iface, dir}).second) {
      stopped_ = true;
      loop_verdict_ =
          "routing loop: " + node + " " + iface + " " + to_string(dir) + " would be crossed again";
      return;
    }
    Hop h;
    h.node = node;
    h.interface = iface;
    h.direction = dir;
    h.role = role;
    h.state = role == InterfaceRole::Gateway ? HopState::Virtual : HopState::Unwatched;
    h.route = route;
    h.note = note;
    hops_.push_back(std::move(h));
  }

  std::string pod_veth(const Endpoint& pod, const PathNode& node) const {
    if (!pod.veth().empty()) return pod.veth();
    for (const auto& [ref, iface] : topo_.interfaces) {
      if (iface.role == InterfaceRole::PodVeth && iface.node == node.name && iface.pod == pod.name)
        return iface.name;
    }
    return "veth of " + short_pod_name(pod);
  }

  static std::string owner_suffix(const PathNode& node, const net::Route& r) {
    if (node.pod_cidr && r.dst == *node.pod_cidr) return " (local pod CIDR)";
    return "";
  }

  static void append_note(Hop& h, const std::string& text) { h.note = join(h.note, text); }

  static std::string join(const std::string& a, const std::string& b) {
    if (a.empty()) return b;
    if (b.empty()) return a;
    return a + "; " + b;
  }

  const Endpoint& src_;
  const Endpoint& dst_;
  const Topology& topo_;
  std::vector<Hop> hops_;
  std::set<std::tuple<std::string, std::string, HopDirection>> seen_;
  std::string verdict_;
  std::string loop_verdict_;
  bool stopped_ = false;
};

/// The watched interface behind an observation point, or nullptr.
const ObservedInterface* interface_at(const Topology& topo, const model::ObservationPoint& point) {
  const auto it = topo.interfaces.find({point.netns_cookie, point.ifindex});
  return it == topo.interfaces.end() ? nullptr : &it->second;
}

bool same_direction(model::Direction seen, HopDirection expected) {
  return (seen == model::Direction::Ingress) == (expected == HopDirection::Ingress);
}

/// Puts each observed point's counters on the expected hop it is (same node, interface and
/// direction), marks the other hops missing (watched) or unwatched; returns which points
/// were used.
std::vector<bool> place_observed(Path& path, const Flow& flow, const Topology& topo) {
  std::vector<bool> used(flow.points.size(), false);
  for (auto& hop : path.hops) {
    if (hop.state == HopState::Virtual) continue;
    for (std::size_t i = 0; i < flow.points.size(); ++i) {
      const auto& ps = flow.points[i];
      const ObservedInterface* iface = interface_at(topo, ps.point);
      if (iface == nullptr || used[i]) continue;
      if (iface->node == hop.node && iface->name == hop.interface &&
          same_direction(ps.point.direction, hop.direction)) {
        hop.state = HopState::Observed;
        hop.stats = ps;
        used[i] = true;
        break;
      }
    }
    if (hop.state != HopState::Observed) {
      hop.state = topo.watched(hop.node, hop.interface) ? HopState::Missing : HopState::Unwatched;
    }
  }
  return used;
}

/// Explains every missing hop and sets the verdict: the packets stopped at the first missing
/// hop after the last observed one; a hop missing before an observed one means a hook did not
/// count, not that packets stopped.
void explain_missing(Path& path, const Endpoint& dst) {
  std::size_t last_observed = path.hops.size();
  for (std::size_t i = 0; i < path.hops.size(); ++i) {
    if (path.hops[i].observed()) last_observed = i;
  }
  const Hop* before = nullptr;
  bool reported = false;
  for (std::size_t i = 0; i < path.hops.size(); ++i) {
    Hop& hop = path.hops[i];
    if (hop.observed()) {
      before = &hop;
      continue;
    }
    if (hop.state != HopState::Missing) continue;
    path.complete = false;
    const std::string here = hop.node + " " + hop.interface + " " + to_string(hop.direction);
    std::string why;
    if (last_observed != path.hops.size() && i < last_observed) {
      why = "not seen here, although later hops were (not counted at this hook)";
    } else if (!reported && before != nullptr) {
      why = "not seen: left " + before->node + " " + before->interface + ", never reached " + hop.node + " " +
            hop.interface;
      path.verdict = "stops after " + before->node + " " + before->interface + " " +
                     to_string(before->direction) + ": never reached " + here;
      reported = true;
    } else if (!reported) {
      why = "not seen";
      path.verdict = "never seen at " + here;
      reported = true;
    } else {
      why = "not seen (the packets stopped earlier)";
    }
    if (dst.kind == EndpointKind::External && hop.role == InterfaceRole::Uplink &&
        hop.direction == HopDirection::Egress) {
      why += "; if the node masquerades (SNAT), the flow leaves under the node's address instead";
    }
    hop.note = hop.note.empty() ? why : why + " — expected: " + hop.note;
  }
}

/// Adds the observed points that the routes do not predict, each after the last hop on its
/// node (or at the end), named by cookie and ifindex when the interface is unknown.
void add_unexpected(Path& path, const Flow& flow, const Topology& topo, const std::vector<bool>& used) {
  for (std::size_t i = 0; i < flow.points.size(); ++i) {
    if (used[i]) continue;
    const auto& ps = flow.points[i];
    Hop h;
    h.direction =
        ps.point.direction == model::Direction::Ingress ? HopDirection::Ingress : HopDirection::Egress;
    h.state = HopState::Unexpected;
    h.stats = ps;
    if (const ObservedInterface* iface = interface_at(topo, ps.point)) {
      h.node = iface->node;
      h.interface = iface->name;
      h.role = iface->role;
    } else {
      h.node = "netns:" + std::to_string(ps.point.netns_cookie);
      h.interface = "if" + std::to_string(ps.point.ifindex);
    }
    h.note = "seen here, but not on the path the routes predict";
    auto pos = path.hops.end();
    for (auto hit = path.hops.begin(); hit != path.hops.end(); ++hit) {
      if (hit->node == h.node) pos = hit + 1;
    }
    path.hops.insert(pos, std::move(h));
  }
}

/// Puts observed counters on the expected hops, marks the rest, and adds observed points
/// that no expected hop explains.
void match(Path& path, const Flow& flow, const Endpoint& dst, const Topology& topo) {
  const std::vector<bool> used = place_observed(path, flow, topo);
  explain_missing(path, dst);
  add_unexpected(path, flow, topo, used);
}

}  // namespace

const char* to_string(HopDirection direction) {
  switch (direction) {
  case HopDirection::Ingress:
    return "ingress";
  case HopDirection::Egress:
    return "egress";
  case HopDirection::Forward:
    break;
  }
  return "forward";
}

const char* to_string(HopState state) {
  switch (state) {
  case HopState::Observed:
    return "observed";
  case HopState::Missing:
    return "missing";
  case HopState::Unwatched:
    return "unwatched";
  case HopState::Virtual:
    return "virtual";
  case HopState::Unknown:
    return "unknown";
  case HopState::Unexpected:
    break;
  }
  return "unexpected";
}

PathNode PathNode::from(const model::Node& node, net::RouteTable routes) {
  PathNode n;
  n.name = node.name;
  n.routes = std::move(routes);
  n.local_addresses = {node.underlay_ip, node.bridge_ip};
  n.bridge = node.interfaces.bridge;
  n.uplink = node.interfaces.uplink;
  n.pod_cidr = node.pod_cidr;
  return n;
}

PathNode PathNode::assumed(const model::Node& node, const model::Node& like,
                           const std::optional<model::Cidr>& underlay,
                           const std::optional<model::IpAddress>& gateway) {
  PathNode n;
  n.name = node.name;
  n.local_addresses = {node.underlay_ip};
  n.bridge = like.interfaces.bridge.empty() ? "cbr0" : like.interfaces.bridge;
  n.uplink = like.interfaces.uplink.empty() ? "eth0" : like.interfaces.uplink;
  if (node.pod_cidr.prefix_len != 0) {
    n.pod_cidr = node.pod_cidr;
    net::Route r;
    r.dst = node.pod_cidr;
    r.dev = n.bridge;
    r.scope = net::kScopeLink;
    n.routes.add(r);
  }
  if (underlay) {
    net::Route r;
    r.dst = *underlay;
    r.dev = n.uplink;
    r.scope = net::kScopeLink;
    n.routes.add(r);
  }
  if (gateway) {
    net::Route r;
    r.dst = model::Cidr::make(*gateway, 0);
    r.gateway = *gateway;
    r.dev = n.uplink;
    n.routes.add(r);
  }
  return n;
}

bool PathNode::is_local(const model::IpAddress& ip) const {
  return std::find(local_addresses.begin(), local_addresses.end(), ip) != local_addresses.end();
}

PathGateway PathGateway::from(const model::Gateway& gateway, const std::optional<model::Cidr>& underlay) {
  PathGateway g;
  g.name = gateway.name.empty() ? "gateway" : gateway.name;
  g.ip = gateway.ip;
  g.interface = gateway.interface;
  g.routes = net::gateway_route_table(gateway, underlay);
  return g;
}

const PathNode* Topology::find_node(std::string_view name) const {
  if (name.empty()) return nullptr;
  const auto it = std::find_if(nodes.begin(), nodes.end(), [&](const PathNode& n) { return n.name == name; });
  return it == nodes.end() ? nullptr : &*it;
}

const PathNode* Topology::node_with_address(const model::IpAddress& ip) const {
  const auto it = std::find_if(nodes.begin(), nodes.end(), [&](const PathNode& n) { return n.is_local(ip); });
  return it == nodes.end() ? nullptr : &*it;
}

bool Topology::watched(std::string_view node, std::string_view name) const {
  return std::any_of(interfaces.begin(), interfaces.end(),
                     [&](const auto& kv) { return kv.second.node == node && kv.second.name == name; });
}

Path compose_path(const Flow& flow, const Endpoint& src, const Endpoint& dst, const Topology& topology) {
  Path path = Walker(src, dst, topology).walk();
  match(path, flow, dst, topology);
  return path;
}

std::string describe_nat(const Flow& flow, const NatExplanation& why) {
  if (flow.nat() == nullptr) return {};
  const model::NatRecord& nat = *flow.nat();
  const auto ep = [](const model::IpAddress& ip, std::uint16_t port) {
    return ip.to_string() + ":" + std::to_string(port);
  };
  const bool request = flow.key == nat.original;
  const model::FlowKey& before = flow.key;
  const model::FlowKey& after = flow.translated_key();
  std::string text;
  if (nat.dnat) {
    // The request's destination changes; the reply's source changes back.
    text = request ? "DNAT " + ep(before.dst, before.dport) + " → " + ep(after.dst, after.dport)
                   : "reverse DNAT " + ep(before.src, before.sport) + " → " + ep(after.src, after.sport);
  }
  if (nat.snat) {
    if (!text.empty()) text += ", ";
    text += request ? "SNAT " + ep(before.src, before.sport) + " → " + ep(after.src, after.sport)
                    : "reverse SNAT " + ep(before.dst, before.dport) + " → " + ep(after.dst, after.dport);
  }
  std::vector<std::string> why_parts;
  if (!why.service.empty()) why_parts.push_back("service " + why.service);
  if (!why.rule.empty()) why_parts.push_back("rule " + why.rule);
  if (!why_parts.empty()) {
    text += " (" + why_parts[0];
    for (std::size_t i = 1; i < why_parts.size(); ++i) text += ", " + why_parts[i];
    text += ")";
  }
  return text;
}

void annotate_nat(Path& path, const Flow& flow, const NatExplanation& why) {
  if (flow.nat() == nullptr) return;
  const std::uint64_t netns = flow.nat()->point.netns_cookie;
  Hop* last_before = nullptr;
  Hop* first_after = nullptr;
  for (auto& h : path.hops) {
    if (!h.stats) continue;
    if (h.stats->before_nat && h.stats->point.netns_cookie == netns) last_before = &h;
    if (!h.stats->before_nat && first_after == nullptr) first_after = &h;
  }
  Hop* at = last_before != nullptr ? last_before : first_after;
  if (at != nullptr) at->nat = describe_nat(flow, why);
}

}  // namespace podpath::flows

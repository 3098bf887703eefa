#include "check/diagnose.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace podpath::check {
namespace {

bool starts_with(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

std::string who(const flows::Endpoint& e) {
  if (e.kind == flows::EndpointKind::Pod && e.pod != nullptr) return "pod " + e.name;
  if (e.kind == flows::EndpointKind::Pod) return e.ip.to_string();
  if (e.name == e.ip.to_string()) return e.name;
  return fmt::format("{} ({})", e.name, e.ip.to_string());
}

std::string ms(std::uint64_t ns) { return fmt::format("{:.2f} ms", static_cast<double>(ns) / 1e6); }

std::string what(const Evidence& ev) {
  switch (ev.proto) {
  case Protocol::Tcp:
    return fmt::format("TCP port {}", ev.port);
  case Protocol::Udp:
    return fmt::format("UDP port {}", ev.port);
  case Protocol::Icmp:
    break;
  }
  return "ICMP echo";
}

/// "stops after node1 eth0 egress", or "" when nothing was seen.
std::string stop_phrase(const PathReport& path) {
  const auto last = path.last_seen();
  if (!last) return {};
  return "stops after " + path.hops[*last].describe();
}

std::string last_seen_hop(const PathReport& path) {
  const auto last = path.last_seen();
  return last ? path.hops[*last].describe() : std::string();
}

/// The request reached the destination's last hop (its veth, for a pod).
bool delivered(const PathReport& path) {
  return !path.hops.empty() && path.hops.back().seen > 0 &&
         path.hops.back().hop.state == flows::HopState::Observed;
}

enum class DropClass { NoRoute, Neighbour, Firewall, TtlExceeded, Other };

DropClass classify(const DropFinding& d) {
  const std::string fn = d.function();
  if (!d.reason.empty()) {
    if (d.reason == "IP_INNOROUTES" || d.reason == "IP_OUTNOROUTES") return DropClass::NoRoute;
    if (starts_with(d.reason, "NEIGH_")) return DropClass::Neighbour;
    if (d.reason == "NETFILTER_DROP") return DropClass::Firewall;
    if (d.reason == "IP_INHDR" && d.ttl <= 1) return DropClass::TtlExceeded;
    return DropClass::Other;
  }
  // Location only (kernels before 5.17): judge by the function that freed the packet.
  if (fn == "ip_error" || starts_with(fn, "ip_route_")) return DropClass::NoRoute;
  if (starts_with(fn, "neigh_") || starts_with(fn, "__neigh_")) return DropClass::Neighbour;
  if (fn == "nf_hook_slow" || starts_with(fn, "nft_") || starts_with(fn, "ipt_do_table"))
    return DropClass::Firewall;
  if (fn == "ip_forward" && d.ttl <= 1) return DropClass::TtlExceeded;
  return DropClass::Other;
}

/// "NETFILTER_DROP in nft_do_chain", or "freed in nf_hook_slow" without a reason.
std::string reason_in(const DropFinding& d) {
  if (d.reason.empty()) return "freed in " + d.function();
  return d.reason + " in " + d.function();
}

std::string describe_drop(const DropFinding& d) {
  std::string s =
      fmt::format("{}× {} at {}", d.count, d.reason.empty() ? "dropped" : d.reason, d.place.describe());
  if (!d.ifname.empty()) s += " " + d.ifname;
  s += fmt::format(" ({}, {}; {} bytes", d.location, d.reply ? "reply" : "request", d.ip_len);
  if (d.df) s += ", DF";
  if (d.ttl <= 1) s += fmt::format(", TTL {}", d.ttl);
  return s + ")";
}

std::string cidr_or_ip(const GatewayRouteFact& g) { return g.cidr ? g.cidr->to_string() : g.dst.to_string(); }

std::string gateway_missing_text(const GatewayRouteFact& g) {
  return fmt::format("{} has no route to {}", g.gateway, cidr_or_ip(g));
}

std::string gateway_wrong_text(const GatewayRouteFact& g) {
  const std::string via = g.actual_via ? g.actual_via->to_string() : std::string("?");
  std::string s = fmt::format("the {} routes {} via {}", g.gateway, cidr_or_ip(g), via);
  if (!g.actual_node.empty()) s += " (" + g.actual_node + ")";
  if (g.reject)
    return fmt::format("the {} has a reject route for {}: {}", g.gateway, cidr_or_ip(g), *g.actual);
  if (!g.expected_node.empty()) s += ", but " + g.expected_node + " holds that pod CIDR";
  if (g.expected) s += " (expected " + *g.expected + ")";
  return s;
}

Verdict make(VerdictKind kind, std::string summary, std::string hop = {}) {
  Verdict v;
  v.kind = kind;
  v.reachable = kind == VerdictKind::Reachable || kind == VerdictKind::Delivered;
  v.summary = std::move(summary);
  v.hop = std::move(hop);
  return v;
}

const NeighbourFact* neighbour_at(const Evidence& ev, const Place& place) {
  for (const auto& n : ev.neighbours) {
    if (n.place.name == place.name) return &n;
  }
  return nullptr;
}

/// The routing-loop verdict, with the gateway's wrong route when that explains it.
Verdict routing_loop(const Evidence& ev, const std::string& where) {
  if (ev.gateway_to_dst && ev.gateway_to_dst->wrong()) {
    return make(VerdictKind::RoutingLoop,
                "routing loop: " + gateway_wrong_text(*ev.gateway_to_dst) +
                    "; packets bounce until their TTL runs out",
                "gateway");
  }
  return make(VerdictKind::RoutingLoop,
              fmt::format("routing loop: the TTL ran out at {} (the packets went round in circles)", where),
              last_seen_hop(ev.request));
}

std::optional<Verdict> from_drop(const Evidence& ev, const DropFinding& d, const PathReport& path) {
  const std::string where = d.place.describe();
  const std::string stop = stop_phrase(path);
  switch (classify(d)) {
  case DropClass::NoRoute: {
    const auto& g = d.reply ? ev.gateway_to_src : ev.gateway_to_dst;
    if (d.place.kind == PlaceKind::Gateway && g && g->missing()) {
      const std::string text = gateway_missing_text(*g);
      return make(VerdictKind::NoRoute, stop.empty() ? text : stop + ": " + text, last_seen_hop(path));
    }
    const auto& target = d.reply ? ev.src : ev.dst;
    return make(VerdictKind::NoRoute,
                fmt::format("dropped at {}: no route to {} ({})", where, target.ip.to_string(), reason_in(d)),
                last_seen_hop(path));
  }
  case DropClass::Neighbour: {
    if (const NeighbourFact* n = neighbour_at(ev, d.place)) {
      return make(VerdictKind::Neighbour,
                  fmt::format("no ARP reply for {} on {} {}", n->ip.to_string(), where, n->dev),
                  fmt::format("{} {} egress", d.place.name, n->dev));
    }
    const auto& target = d.reply ? ev.src : ev.dst;
    return make(VerdictKind::Neighbour,
                fmt::format("no ARP reply for {} on {} {} ({})", target.ip.to_string(), where, d.ifname,
                            reason_in(d)),
                fmt::format("{} {} egress", d.place.name, d.ifname));
  }
  case DropClass::Firewall:
    return make(VerdictKind::Firewall, fmt::format("dropped at {}: {}", where, reason_in(d)),
                last_seen_hop(path));
  case DropClass::TtlExceeded:
    return routing_loop(ev, where);
  case DropClass::Other:
    break;
  }
  return make(VerdictKind::Dropped, fmt::format("dropped at {}: {}", where, reason_in(d)),
              last_seen_hop(path));
}

/// The first drop of one direction (the earliest, which is where the packets died).
const DropFinding* first_drop(const Evidence& ev, bool reply) {
  for (const auto& d : ev.drops) {
    if (d.reply == reply) return &d;
  }
  return nullptr;
}

std::optional<Verdict> link_down(const Evidence& ev) {
  const LinkFact* found = nullptr;
  for (const auto& l : ev.links) {
    if (!l.on_path || l.running) continue;
    // A pod's veth first: it is the usual culprit, and its peer goes down with it.
    if (found == nullptr ||
        (l.role == model::InterfaceRole::PodVeth && found->role != model::InterfaceRole::PodVeth))
      found = &l;
  }
  if (found == nullptr) return std::nullopt;
  const std::string state = found->up ? "has no carrier (its peer is down)" : "is down";
  if (found->role == model::InterfaceRole::PodVeth) {
    return make(VerdictKind::LinkDown,
                fmt::format("pod veth down: {} of pod {} on {} {}", found->ifname,
                            found->pod.empty() ? std::string("?") : found->pod, found->place.describe(),
                            state),
                fmt::format("{} {}", found->place.name, found->ifname));
  }
  return make(VerdictKind::LinkDown, fmt::format("{} {} {}", found->place.describe(), found->ifname, state),
              fmt::format("{} {}", found->place.name, found->ifname));
}

std::optional<Verdict> from_icmp(const Evidence& ev) {
  if (!ev.outcome.icmp) return std::nullopt;
  const IcmpError& e = *ev.outcome.icmp;
  const std::string from = e.from.to_string();
  const bool from_gateway = ev.gateway_to_dst && ev.gateway_to_dst->gateway_ip == e.from;
  if (e.ttl_exceeded()) return routing_loop(ev, from);
  if (e.frag_needed()) {
    return make(VerdictKind::Mtu,
                fmt::format("path MTU {} at {}: larger packets with DF set are refused (ICMP {})", e.info,
                            from, e.describe()),
                last_seen_hop(ev.request));
  }
  if (e.no_route()) {
    if (from_gateway && ev.gateway_to_dst->missing()) {
      const std::string stop = stop_phrase(ev.request);
      const std::string text = gateway_missing_text(*ev.gateway_to_dst);
      return make(VerdictKind::NoRoute, stop.empty() ? text : stop + ": " + text, last_seen_hop(ev.request));
    }
    return make(VerdictKind::NoRoute,
                fmt::format("{} has no route to {} (ICMP {})",
                            from_gateway ? ev.gateway_to_dst->gateway : from, ev.dst.ip.to_string(),
                            e.describe()),
                last_seen_hop(ev.request));
  }
  if (e.prohibited()) {
    return make(VerdictKind::Firewall,
                fmt::format("rejected by a firewall at {} (ICMP {})", from, e.describe()),
                last_seen_hop(ev.request));
  }
  return make(VerdictKind::Dropped, fmt::format("{} answered with ICMP {}", from, e.describe()),
              last_seen_hop(ev.request));
}

/// The request stopped before a hop that cannot be known (its node's agent does not answer):
/// "unknown: agent on node2 unreachable since 03:10:11; seen up to node1 eth0 egress".
std::optional<Verdict> unknown_stop(const Evidence& ev) {
  const auto last = ev.request.last_seen();
  for (std::size_t i = last ? *last + 1 : 0; i < ev.request.hops.size(); ++i) {
    const HopReport& h = ev.request.hops[i];
    if (h.hop.state == flows::HopState::Missing) return std::nullopt;  // stopped where it can be seen
    if (h.hop.state != flows::HopState::Unknown) continue;
    std::string s = h.hop.note.rfind("unknown: ", 0) == 0 ? h.hop.note : "unknown: " + h.hop.note;
    if (last) s += "; seen up to " + ev.request.hops[*last].describe();
    return make(VerdictKind::Unknown, s, last_seen_hop(ev.request));
  }
  return std::nullopt;
}

/// Routing and neighbour state that explains a stop without a drop record.
std::optional<Verdict> from_state(const Evidence& ev) {
  const std::string stop = stop_phrase(ev.request);
  if (ev.gateway_to_dst && ev.gateway_to_dst->missing()) {
    const std::string text = gateway_missing_text(*ev.gateway_to_dst);
    return make(VerdictKind::NoRoute, stop.empty() ? text : stop + ": " + text, last_seen_hop(ev.request));
  }
  if (ev.gateway_to_dst && ev.gateway_to_dst->wrong()) return routing_loop(ev, ev.gateway_to_dst->gateway);
  for (const auto& n : ev.neighbours) {
    if (n.ip == ev.dst.ip || ev.neighbours.size() == 1) {
      return make(VerdictKind::Neighbour,
                  fmt::format("no ARP reply for {} on {} {}", n.ip.to_string(), n.place.describe(), n.dev),
                  fmt::format("{} {} egress", n.place.name, n.dev));
    }
  }
  return std::nullopt;
}

/// The smallest MTU on the path that is below `size`.
const LinkFact* narrowest(const Evidence& ev, std::uint16_t size) {
  const LinkFact* best = nullptr;
  for (const auto& l : ev.links) {
    if (l.mtu == 0 || l.mtu >= size) continue;
    if (best == nullptr || l.mtu < best->mtu) best = &l;
  }
  return best;
}

/// Answered: reachable, unless the large-packet probe found an MTU blackhole.
Verdict reachable(const Evidence& ev) {
  const auto& o = ev.outcome;
  if (ev.mtu && ev.mtu->sent > 0 && ev.mtu->answered == 0 && !ev.mtu->icmp && ev.mtu->local_error == 0) {
    const MtuProbe& m = *ev.mtu;
    std::string s = fmt::format("MTU blackhole: {}-byte packets with DF set are lost", m.size);
    const std::string stop = stop_phrase(m.path);
    if (!stop.empty()) s += " (" + stop + ")";
    s += ", small ones pass";
    if (const LinkFact* l = narrowest(ev, m.size)) {
      s += fmt::format("; {} {} has MTU {}", l->place.describe(), l->ifname, l->mtu);
    } else if (!m.drops.empty()) {
      s += fmt::format("; dropped at {} {} ({})", m.drops.front().place.describe(), m.drops.front().ifname,
                       reason_in(m.drops.front()));
    }
    Verdict v = make(VerdictKind::Mtu, s, last_seen_hop(m.path));
    for (const auto& d : m.drops) v.details.push_back("large probe: " + describe_drop(d));
    return v;
  }
  std::string s;
  if (ev.passive) {
    s = fmt::format("reachable: answers seen ({})", what(ev));
  } else if (ev.proto == Protocol::Tcp) {
    s = fmt::format("reachable: TCP port {} accepts connections ({}/{} connected", ev.port, o.answered,
                    o.sent);
  } else {
    s = fmt::format("reachable: {}/{} answered ({}", o.answered, o.sent, what(ev));
  }
  if (!ev.passive) s += o.rtt_ns ? ", rtt " + ms(*o.rtt_ns) + ")" : ")";
  Verdict v = make(VerdictKind::Reachable, s);
  if (o.answered < o.sent) {
    v.details.push_back(fmt::format("{} of {} probes got no answer", o.sent - o.answered, o.sent));
  }
  if (ev.mtu && ev.mtu->sent > 0) {
    const MtuProbe& m = *ev.mtu;
    if (m.answered > 0) {
      v.details.push_back(fmt::format("{}-byte packets with DF set pass too (no MTU problem)", m.size));
    } else if (m.icmp && m.icmp->frag_needed()) {
      v.details.push_back(fmt::format("path MTU {} (ICMP fragmentation needed from {}): PMTU discovery works",
                                      m.icmp->info, m.icmp->from.to_string()));
    } else if (m.local_error != 0) {
      v.details.push_back(
          fmt::format("{}-byte DF packets are refused by the sender: {} (it knows a smaller path MTU)",
                      m.size, std::strerror(m.local_error)));
    }
  }
  return v;
}

Verdict refused(const Evidence& ev) {
  // Who answered: a reply first seen at the destination's own veth came from the destination.
  bool from_destination = ev.dst.kind == flows::EndpointKind::Pod;
  for (const auto& h : ev.reply.hops) {
    if (h.seen == 0) continue;
    from_destination = h.hop.role == model::InterfaceRole::PodVeth && h.hop.node == ev.dst.node;
    break;
  }
  // An ICMP port unreachable names its sender: the destination, or a router rejecting for it.
  // (TCP too: a REJECT with ICMP port unreachable refuses a connect as a RST does.)
  if (ev.outcome.icmp) from_destination = ev.outcome.icmp->from == ev.dst.ip;
  Verdict v;
  if (ev.proto == Protocol::Udp || ev.outcome.icmp) {
    const std::string from = ev.outcome.icmp ? ev.outcome.icmp->from.to_string() : std::string("the path");
    v = make(VerdictKind::PortClosed,
             from_destination
                 ? fmt::format("ICMP port unreachable from destination ({} closed)", what(ev))
                 : fmt::format("ICMP port unreachable from {} for {} (a firewall there rejects it)", from,
                               what(ev)),
             last_seen_hop(ev.request));
  } else {
    v = make(VerdictKind::PortClosed,
             from_destination
                 ? std::string("TCP RST from destination (port closed)")
                 : fmt::format("TCP RST (connection refused) before the destination, first seen at {}",
                               last_seen_hop(ev.reply)),
             last_seen_hop(ev.request));
  }
  v.details.push_back(fmt::format("nothing accepts {} on {}, or a firewall there rejects it", what(ev),
                                  ev.dst.ip.to_string()));
  return v;
}

}  // namespace

Verdict diagnose(const Evidence& ev) {
  Verdict v;
  const auto& o = ev.outcome;
  const DropFinding* req_drop = first_drop(ev, false);
  if (o.answered > 0) {
    v = reachable(ev);
  } else if (o.refused > 0) {
    v = refused(ev);
  } else if (!ev.passive && o.sent > 0 && o.local_errors == o.sent) {
    v = make(VerdictKind::LocalError,
             fmt::format("{} cannot send to {}: {}", who(ev.src), ev.dst.ip.to_string(),
                         std::strerror(o.local_errno)),
             "");
  } else if (auto l = link_down(ev)) {
    v = *l;
  } else if (req_drop != nullptr) {
    v = *from_drop(ev, *req_drop, ev.request);
  } else if (auto i = from_icmp(ev)) {
    v = *i;
  } else if (auto state = from_state(ev)) {
    v = *state;
  } else if (auto u = unknown_stop(ev)) {
    v = *u;
  } else if (delivered(ev.request)) {
    if (const DropFinding* d = first_drop(ev, true)) {
      v = *from_drop(ev, *d, ev.reply);
      v.summary = "the reply " + v.summary;
    } else if (ev.proto == Protocol::Udp) {
      v = make(VerdictKind::Delivered,
               fmt::format("delivered to {} (UDP port {}): no reply came back, which is all UDP can tell",
                           who(ev.dst), ev.port));
    } else if (ev.reply.any_seen()) {
      v = make(VerdictKind::Lost,
               fmt::format("delivered to {}; its reply {} (no drop reported by the kernel)", who(ev.dst),
                           stop_phrase(ev.reply)),
               last_seen_hop(ev.reply));
    } else {
      v = make(VerdictKind::Lost, fmt::format("delivered to {}, but it did not answer", who(ev.dst)),
               last_seen_hop(ev.request));
    }
  } else if (ev.request.any_seen()) {
    const auto stop = ev.request.stop();
    std::string s = stop_phrase(ev.request);
    if (stop) s += ": never reached " + ev.request.hops[*stop].describe();
    s += ev.drops_tracked ? " (no drop reported by the kernel)" : " (drop tracking is off)";
    v = make(VerdictKind::Lost, s, last_seen_hop(ev.request));
  } else {
    v = make(VerdictKind::Lost, fmt::format("no probe was seen leaving {}", who(ev.src)));
  }

  // Supporting facts.
  for (const auto& d : ev.drops) v.details.push_back(describe_drop(d));
  if (ev.gateway_to_dst && (ev.gateway_to_dst->missing() || ev.gateway_to_dst->wrong())) {
    const auto& g = *ev.gateway_to_dst;
    v.details.push_back(g.missing()
                            ? gateway_missing_text(g) + (g.expected ? " (expected " + *g.expected + ")" : "")
                            : gateway_wrong_text(g));
  }
  if (ev.gateway_to_src && (ev.gateway_to_src->missing() || ev.gateway_to_src->wrong())) {
    const auto& g = *ev.gateway_to_src;
    v.details.push_back("reply direction: " +
                        (g.missing() ? gateway_missing_text(g) : gateway_wrong_text(g)));
  }
  for (const auto& l : ev.links) {
    if (l.on_path && !l.running)
      v.details.push_back(
          fmt::format("{} {} is {}", l.place.describe(), l.ifname, l.up ? "without carrier" : "down"));
  }
  for (const auto& n : ev.neighbours) {
    v.details.push_back(
        fmt::format("{} {}: neighbour {} is {}", n.place.describe(), n.dev, n.ip.to_string(), n.state));
  }
  if (!ev.drops_tracked) {
    v.details.push_back("drop tracking was not available, so no kernel drop reasons are shown");
  } else if (!ev.drop_reasons) {
    v.details.push_back(
        "this kernel reports no drop reasons (Linux 5.17+ does): drops are named by the kernel function that "
        "freed them");
  }
  return v;
}

}  // namespace podpath::check

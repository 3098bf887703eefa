#include "net/route_table.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace podpath::net {
namespace {

/// Types /proc/net/route (and so `route -n`) never shows.
bool hidden_from_route_n(const Route& r) {
  return r.type == kTypeLocal || r.type == kTypeBroadcast || r.type == kTypeMulticast;
}

}  // namespace

std::string Route::flags() const {
  // net-tools order: U, G, then '!' replaces both for reject routes, then H.
  std::string f = "U";
  if (gateway) f += "G";
  if (is_reject()) f = "!";
  if (is_host()) f += "H";
  return f;
}

std::string Route::to_string() const {
  std::string out;
  if (type != kTypeUnicast) out = route_type_name(type) + " ";
  out += dst.to_string();
  if (gateway) out += " via " + gateway->to_string();
  if (!dev.empty()) out += " dev " + dev;
  return out;
}

const Route* RouteTable::lookup(const model::IpAddress& dst) const {
  const Route* best = nullptr;
  for (const auto& r : routes_) {
    if (!r.dst.contains(dst)) continue;
    if (best == nullptr || r.dst.prefix_len > best->dst.prefix_len ||
        (r.dst.prefix_len == best->dst.prefix_len && r.metric < best->metric)) {
      best = &r;
    }
  }
  return best;
}

const Route* RouteTable::find(const model::Cidr& dst) const {
  const Route* best = nullptr;
  for (const auto& r : routes_) {
    if (r.dst == dst && (best == nullptr || r.metric < best->metric)) best = &r;
  }
  return best;
}

std::vector<const Route*> route_n_rows(const RouteTable& table) {
  std::vector<const Route*> rows;
  for (const auto& r : table.routes()) {
    if (r.dst.is_v4() && !hidden_from_route_n(r)) rows.push_back(&r);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Route* a, const Route* b) {
    if (a->dst.network.v4_host() != b->dst.network.v4_host())
      return a->dst.network.v4_host() < b->dst.network.v4_host();
    if (a->dst.prefix_len != b->dst.prefix_len) return a->dst.prefix_len > b->dst.prefix_len;
    return a->metric < b->metric;
  });
  return rows;
}

std::string format_route_n_line(const Route& r) {
  // net-tools: "%-15s %-15s %-15s %-5s %-6d %-2d %7d %s", and for reject routes
  // "%-15s -               %-15s %-5s %-6d -  %7d -".
  const std::string dst = r.dst.network.to_string();
  const std::string mask = r.dst.netmask().to_string();
  if (r.is_reject()) {
    return fmt::format("{:<15} -               {:<15} {:<5} {:<6} -  {:>7} -", dst, mask, r.flags(), r.metric,
                       0);
  }
  const std::string gw = r.gateway ? r.gateway->to_string() : "0.0.0.0";
  return fmt::format("{:<15} {:<15} {:<15} {:<5} {:<6} {:<2} {:>7} {}", dst, gw, mask, r.flags(), r.metric, 0,
                     0, r.dev.empty() ? "*" : r.dev);
}

std::string format_route_n(const RouteTable& table) {
  std::string out = kRouteNHeader;
  for (const Route* r : route_n_rows(table)) out += format_route_n_line(*r) + "\n";
  return out;
}

RouteTable gateway_route_table(const model::Gateway& gateway, const std::optional<model::Cidr>& underlay) {
  RouteTable table;
  if (underlay) {
    Route connected;
    connected.dst = *underlay;
    connected.dev = gateway.interface;
    connected.scope = kScopeLink;
    connected.protocol = kProtoKernel;
    connected.prefsrc = gateway.ip;
    table.add(std::move(connected));
  }
  for (const auto& gr : gateway.routes) {
    Route r;
    r.dst = gr.dst;
    r.gateway = gr.via;
    r.dev = gateway.interface;
    table.add(std::move(r));
  }
  return table;
}

std::string route_scope_name(std::uint8_t scope) {
  switch (scope) {
  case 0:
    return "global";
  case 200:
    return "site";
  case 253:
    return "link";
  case 254:
    return "host";
  case 255:
    return "nowhere";
  default:
    return std::to_string(scope);
  }
}

std::string route_protocol_name(std::uint8_t protocol) {
  switch (protocol) {
  case 0:
    return "unspec";
  case 1:
    return "redirect";
  case 2:
    return "kernel";
  case 3:
    return "boot";
  case 4:
    return "static";
  case 9:
    return "ra";
  case 11:
    return "zebra";
  case 12:
    return "bird";
  case 16:
    return "dhcp";
  case 18:
    return "keepalived";
  case 42:
    return "babel";
  case 186:
    return "bgp";
  case 187:
    return "isis";
  case 188:
    return "ospf";
  case 189:
    return "rip";
  default:
    return std::to_string(protocol);
  }
}

std::string route_type_name(std::uint8_t type) {
  switch (type) {
  case 0:
    return "unspec";
  case 1:
    return "unicast";
  case 2:
    return "local";
  case 3:
    return "broadcast";
  case 4:
    return "anycast";
  case 5:
    return "multicast";
  case 6:
    return "blackhole";
  case 7:
    return "unreachable";
  case 8:
    return "prohibit";
  case 9:
    return "throw";
  case 10:
    return "nat";
  default:
    return std::to_string(type);
  }
}

}  // namespace podpath::net

#pragma once
/// @file
/// @brief Routes and routing tables as plain data: built from netlink (net/routes.hpp),
/// from an inventory (the lab gateway's routes) or by hand in tests. Route selection and
/// the `route -n` rendering live here; nothing in this header touches the kernel.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/address.hpp"
#include "model/cluster.hpp"

namespace podpath::net {

// Numeric values of the rtnetlink constants (linux/rtnetlink.h), so that users of this
// header need no kernel headers; routes.cpp checks them against the real ones.
inline constexpr std::uint8_t kScopeUniverse = 0;    ///< RT_SCOPE_UNIVERSE ("global")
inline constexpr std::uint8_t kScopeLink = 253;      ///< RT_SCOPE_LINK
inline constexpr std::uint8_t kScopeHost = 254;      ///< RT_SCOPE_HOST
inline constexpr std::uint8_t kProtoKernel = 2;      ///< RTPROT_KERNEL: added for an address
inline constexpr std::uint8_t kProtoBoot = 3;        ///< RTPROT_BOOT: `ip route add` default
inline constexpr std::uint8_t kProtoStatic = 4;      ///< RTPROT_STATIC
inline constexpr std::uint8_t kProtoDhcp = 16;       ///< RTPROT_DHCP
inline constexpr std::uint8_t kTypeUnicast = 1;      ///< RTN_UNICAST
inline constexpr std::uint8_t kTypeLocal = 2;        ///< RTN_LOCAL
inline constexpr std::uint8_t kTypeBroadcast = 3;    ///< RTN_BROADCAST
inline constexpr std::uint8_t kTypeMulticast = 5;    ///< RTN_MULTICAST
inline constexpr std::uint8_t kTypeBlackhole = 6;    ///< RTN_BLACKHOLE
inline constexpr std::uint8_t kTypeUnreachable = 7;  ///< RTN_UNREACHABLE
inline constexpr std::uint8_t kTypeProhibit = 8;     ///< RTN_PROHIBIT
inline constexpr std::uint32_t kTableMain = 254;     ///< RT_TABLE_MAIN
inline constexpr std::uint32_t kTableLocal = 255;    ///< RT_TABLE_LOCAL

/// @brief One route: where packets for `dst` go.
struct Route {
  model::Cidr dst;
  std::optional<model::IpAddress> gateway;  ///< next hop; none for a directly connected network
  std::string dev;                          ///< output interface name; empty for reject routes
  std::uint32_t ifindex = 0;
  std::uint32_t metric = 0;  ///< priority: lower wins among equal prefixes
  std::uint8_t scope = kScopeUniverse;
  std::uint8_t protocol = kProtoBoot;
  std::uint8_t type = kTypeUnicast;
  std::uint32_t table = kTableMain;
  std::optional<model::IpAddress> prefsrc;  ///< preferred source address (`src`)
  std::uint32_t nexthops = 1;               ///< >1: multipath; gateway/dev are the first one's

  /// @brief 0.0.0.0/0 or ::/0.
  [[nodiscard]] bool is_default() const { return dst.prefix_len == 0; }
  /// @brief /32 (IPv4) or /128 (IPv6).
  [[nodiscard]] bool is_host() const { return dst.prefix_len == (dst.is_v4() ? 32 : 128); }
  /// @brief unreachable or prohibit: the kernel answers with an ICMP error.
  [[nodiscard]] bool is_reject() const { return type == kTypeUnreachable || type == kTypeProhibit; }
  /// @brief The `route -n` flags: "U", "UG", "UH", "UGH"; "!" (+ "H") for reject routes.
  [[nodiscard]] std::string flags() const;
  /// @brief `ip route` style, with the prefix always written out: "0.0.0.0/0 via 10.0.0.1
  /// dev eth0", "10.10.130.0/24 dev cbr0", "unreachable 10.9.0.0/16".
  [[nodiscard]] std::string to_string() const;

  bool operator==(const Route&) const = default;
};

/// @brief The routes of one table, in the kernel's dump order, and route selection.
class RouteTable {
 public:
  RouteTable() = default;
  explicit RouteTable(std::vector<Route> routes) : routes_(std::move(routes)) {}

  void add(Route route) { routes_.push_back(std::move(route)); }
  [[nodiscard]] const std::vector<Route>& routes() const { return routes_; }
  [[nodiscard]] bool empty() const { return routes_.empty(); }

  /// @brief The route this table selects for `dst`: the longest matching prefix of the
  /// address's family, then the lowest metric, then the first in table order — what
  /// `ip route get` answers when only this table is involved. Policy routing rules, the
  /// local table (the node's own addresses), TOS and multipath hashing are not
  /// considered. A reject/blackhole route is returned like any other: check its type.
  /// nullptr when nothing matches (the kernel says "Network is unreachable").
  [[nodiscard]] const Route* lookup(const model::IpAddress& dst) const;

  /// @brief The route whose destination is exactly `dst`, lowest metric first; nullptr if none.
  [[nodiscard]] const Route* find(const model::Cidr& dst) const;

  bool operator==(const RouteTable&) const = default;

 private:
  std::vector<Route> routes_;
};

/// @brief `route -n` output for the IPv4 routes of `table`, exactly as net-tools prints
/// it: the "Kernel IP routing table" title, the column header, one line per route in
/// the kernel's order (destination ascending, then longer prefix first, then metric).
/// Broadcast, multicast and local routes are left out, like /proc/net/route does.
std::string format_route_n(const RouteTable& table);

/// @brief The routes `route -n` shows, in its order (see format_route_n).
std::vector<const Route*> route_n_rows(const RouteTable& table);
/// @brief One `route -n` line for `route`, without the trailing newline.
std::string format_route_n_line(const Route& route);
/// @brief The two header lines of `route -n`, each ending with a newline.
inline constexpr const char* kRouteNHeader =
    "Kernel IP routing table\n"
    "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface\n";

/// @brief The underlay router's table as the inventory describes it: the underlay
/// network connected on `gateway.interface`, plus one route per `gateway.routes` entry.
RouteTable gateway_route_table(const model::Gateway& gateway, const std::optional<model::Cidr>& underlay);

/// @brief "global", "link", "host", "site", "nowhere" or the number (`ip route` names).
std::string route_scope_name(std::uint8_t scope);
/// @brief "kernel", "boot", "static", "dhcp", "ra", "bgp", ... or the number.
std::string route_protocol_name(std::uint8_t protocol);
/// @brief "unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit", ... or the number.
std::string route_type_name(std::uint8_t type);

}  // namespace podpath::net

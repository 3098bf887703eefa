#pragma once
/// @file
/// @brief Reading routing tables and neighbour (ARP/NDP) entries of a network namespace
/// with libnl-route-3.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/address.hpp"
#include "net/route_table.hpp"
#include "util/result.hpp"

namespace podpath::net {

/// @brief Which address families to read.
enum class Family { Any, Ipv4, Ipv6 };

/// @brief The routes of table `table` (default: main) in `netns` ("" = the caller's
/// namespace), IPv4 and/or IPv6, in the kernel's dump order, with interface names.
/// Cached clones (IPv6 exceptions) are not included.
Result<RouteTable> read_routes(std::string_view netns = "", std::uint32_t table = kTableMain,
                               Family family = Family::Any);

/// @brief One neighbour entry: an ARP (IPv4) or NDP (IPv6) cache line.
struct Neighbour {
  model::IpAddress ip;
  std::string mac;  ///< empty while unresolved (INCOMPLETE/FAILED)
  std::uint32_t ifindex = 0;
  std::string dev;
  std::uint16_t state = 0;  ///< NUD_* bits
  std::string state_name;   ///< "reachable", "stale", "failed", "incomplete", "permanent", ...

  /// @brief The kernel gave up resolving it (NUD_FAILED): no ARP/NDP reply came.
  [[nodiscard]] bool failed() const;
  bool operator==(const Neighbour&) const = default;
};

/// @brief One bridge forwarding-database entry: which port a MAC address was seen on.
struct FdbEntry {
  std::string mac;
  std::uint32_t port_ifindex = 0;    ///< the bridge port (e.g. a pod's veth)
  std::uint32_t bridge_ifindex = 0;  ///< the bridge it belongs to (0 if unknown)
  bool local = false;                ///< the port's own address (NUD_PERMANENT)
  bool operator==(const FdbEntry&) const = default;
};

/// @brief Neighbours and bridge FDB of one namespace, read in one dump.
struct NeighbourTables {
  std::vector<Neighbour> neighbours;
  std::vector<FdbEntry> fdb;
};

/// @brief The ARP/NDP caches and bridge FDBs of `netns` ("" = the caller's namespace).
Result<NeighbourTables> read_neighbours(std::string_view netns = "");

}  // namespace podpath::net

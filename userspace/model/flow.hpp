#pragma once
/// @file
/// @brief Flows as userspace sees them: what the BPF maps hold, in plain C++ types
/// (userspace/bpf converts from the ABI structs).

#include <cstdint>
#include <string>

#include "model/address.hpp"

namespace podpath::model {

enum class Direction : std::uint8_t { Ingress = 0, Egress = 1 };

/// @brief Where a packet was seen: (network-namespace cookie, ifindex, direction).
struct ObservationPoint {
  std::uint64_t netns_cookie = 0;
  std::uint32_t ifindex = 0;
  Direction direction = Direction::Ingress;

  auto operator<=>(const ObservationPoint&) const = default;
};

/// @brief One direction of a flow (5-tuple). ICMP: sport = echo id, dport = type << 8 | code.
struct FlowKey {
  IpAddress src;
  IpAddress dst;
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  std::uint8_t proto = 0;  ///< IPPROTO_*
  bool fragment = false;   ///< non-first IP fragment (ports are 0)
  /// @brief An IPv6 packet whose two addresses are v4-mapped (::ffff:a.b.c.d): another
  /// flow than the IPv4 packets between the same addresses, and another kernel map key.
  bool v4_mapped_ipv6 = false;

  /// @brief The same flow seen from the other end (src/dst and ports swapped;
  /// ICMP echo request <-> reply).
  [[nodiscard]] FlowKey reversed() const;
  /// @brief ICMP or ICMPv6.
  [[nodiscard]] bool is_icmp() const;
  /// @brief ICMP/ICMPv6 message type and code, from dport.
  [[nodiscard]] std::uint8_t icmp_type() const { return static_cast<std::uint8_t>(dport >> 8); }
  [[nodiscard]] std::uint8_t icmp_code() const { return static_cast<std::uint8_t>(dport & 0xff); }
  /// @brief An ICMP echo request or an ICMPv6 one.
  [[nodiscard]] bool is_echo_request() const;
  /// @brief An ICMP echo reply or an ICMPv6 one.
  [[nodiscard]] bool is_echo_reply() const;
  auto operator<=>(const FlowKey&) const = default;
};

/// @brief Counters of one flow direction at one observation point.
struct FlowStats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::uint64_t first_seen_ns = 0;  ///< CLOCK_MONOTONIC
  std::uint64_t last_seen_ns = 0;   ///< CLOCK_MONOTONIC
  std::uint32_t tcp_flags = 0;      ///< OR of TCP flag bytes
  std::uint16_t src_cidr = 0;       ///< CIDR id (0 = other)
  std::uint16_t dst_cidr = 0;
  bool in_matrix = false;  ///< this point counted the flow into the CIDR matrix

  bool operator==(const FlowStats&) const = default;
};

/// @brief One row of the flows map.
struct FlowRecord {
  ObservationPoint point;
  FlowKey key;
  FlowStats stats;

  bool operator==(const FlowRecord&) const = default;
};

/// @brief A connection whose addresses conntrack translated (kube-proxy's DNAT from a
/// ClusterIP to a Service backend, SNAT/MASQUERADE), recorded by the datapath in the
/// namespace that translated it. Its four flow directions:
///   original              what the client sent (client -> ClusterIP:port)
///   reply.reversed()      the same packets after the translation (client -> backend:target)
///   reply                 what the other end sends back (backend -> client)
///   original.reversed()   the reply after the reverse translation (ClusterIP -> client)
struct NatRecord {
  ObservationPoint point;  ///< where it was recorded (an egress point of the translating namespace)
  FlowKey original;
  FlowKey reply;
  bool dnat = false;                ///< the destination was translated
  bool snat = false;                ///< the source was translated
  std::uint64_t first_seen_ns = 0;  ///< same clock as FlowStats::first_seen_ns

  /// @brief The client's packets after the translation.
  [[nodiscard]] FlowKey translated() const { return reply.reversed(); }
  bool operator==(const NatRecord&) const = default;
};

/// @brief The dport of an ICMP/ICMPv6 flow key: type << 8 | code.
constexpr std::uint16_t icmp_type_code(std::uint8_t type, std::uint8_t code = 0) {
  return static_cast<std::uint16_t>(type << 8 | code);
}

/// @brief "TCP", "UDP", "ICMP", "ICMPv6", "SCTP" or the number.
std::string protocol_name(std::uint8_t proto);

}  // namespace podpath::model

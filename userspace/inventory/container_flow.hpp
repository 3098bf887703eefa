#pragma once
/// @file
/// @brief What one container's sockets exchanged with one remote end: the plain form of a
/// container-flows entry (bpf/cgroup_flow.bpf.c), as the attribution and the shared-IP
/// check take it. loader/container_tracker.hpp converts from the BPF record.

#include <cstdint>

#include "model/address.hpp"

namespace podpath::inventory {

struct ContainerFlow {
  std::uint64_t cgroup_id = 0;     ///< cgroup v2 id of the socket's cgroup
  std::uint64_t netns_cookie = 0;  ///< the socket's network namespace; 0 = not known
  model::IpAddress local;          ///< the container's end
  model::IpAddress remote;
  std::uint16_t local_port = 0;  ///< ICMP: echo identifier
  std::uint16_t remote_port = 0;
  std::uint8_t proto = 0;  ///< IPPROTO_*
  std::uint64_t tx_packets = 0;
  std::uint64_t tx_bytes = 0;  ///< IP bytes, no L2 header
  std::uint64_t rx_packets = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t last_seen_ns = 0;  ///< CLOCK_MONOTONIC

  bool operator==(const ContainerFlow&) const = default;
};

}  // namespace podpath::inventory

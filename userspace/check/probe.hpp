#pragma once
/// @file
/// @brief Probes for `podpath check`: ICMP echoes, TCP connects and UDP datagrams sent from
/// inside the source pod's network namespace (sockets created there), each probe with a
/// flow key of its own (its own ICMP identifier or source port), so that the datapath's
/// per-flow counters follow every probe hop by hop.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/address.hpp"
#include "model/flow.hpp"
#include "util/result.hpp"

namespace podpath::check {

/// @brief IP packet length of ICMP and UDP probes unless told otherwise: ping's 84 bytes
/// (20 of IPv4 header, 8 of ICMP header, 56 of data).
inline constexpr std::uint16_t kDefaultProbeSize = 84;
/// @brief The discard port (RFC 863): where container probes connect unless told otherwise,
/// and the port a route lookup connects its UDP socket to. Nothing needs to listen there.
inline constexpr std::uint16_t kDiscardPort = 9;

enum class Protocol { Icmp, Tcp, Udp };

/// @brief "icmp", "tcp", "udp".
const char* to_string(Protocol proto);

/// @brief What to send.
struct ProbeSpec {
  std::string netns;     ///< namespace to send from (name or path); "" = podpath's own
  model::IpAddress src;  ///< the source address the packets will carry (the pod's IP)
  model::IpAddress dst;
  Protocol proto = Protocol::Icmp;
  std::uint16_t port = 0;  ///< TCP/UDP destination port
  int count = 3;
  std::chrono::milliseconds interval{200};  ///< between probe starts
  std::chrono::milliseconds timeout{2000};  ///< per probe, from its start
  /// @brief IP packet length of ICMP/UDP probes (header included); 0 = kDefaultProbeSize.
  std::uint16_t size = 0;
  bool dont_fragment = true;       ///< set DF (IP_PMTUDISC_DO)
  std::uint16_t icmp_id_base = 0;  ///< first ICMP identifier; 0 = random
};

/// @brief How a probe ended.
enum class ProbeResult {
  Answered,    ///< echo reply, TCP handshake completed, UDP reply
  Refused,     ///< TCP RST, or ICMP port unreachable for UDP
  IcmpError,   ///< an ICMP error came back (unreachable, TTL exceeded, fragmentation needed)
  LocalError,  ///< the source's own stack refused to send it (no route, message too long)
  Timeout,     ///< nothing came back in time
};

/// @brief "answered", "refused", "icmp_error", "local_error", "timeout" (stable: JSON).
const char* to_string(ProbeResult result);

/// @brief An ICMP error that came back for a probe.
struct IcmpError {
  model::IpAddress from;  ///< who sent it
  std::uint8_t type = 0;  ///< ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB (<linux/icmp.h>)
  std::uint8_t code = 0;
  std::uint32_t info = 0;  ///< next-hop MTU for "fragmentation needed"

  /// @brief "network unreachable", "port unreachable", "fragmentation needed (MTU 1400)",
  /// "TTL exceeded in transit", ...
  [[nodiscard]] std::string describe() const;
  [[nodiscard]] bool frag_needed() const;
  [[nodiscard]] bool port_unreachable() const;
  [[nodiscard]] bool ttl_exceeded() const;
  /// @brief Network or host unreachable or unknown: a router had no route.
  [[nodiscard]] bool no_route() const;
  /// @brief Administratively prohibited (network, host, or filtered): a firewall's reject.
  [[nodiscard]] bool prohibited() const;
  bool operator==(const IcmpError&) const = default;
};

/// @brief One probe and what became of it.
struct ProbeOutcome {
  int seq = 0;                               ///< 1-based
  model::FlowKey key;                        ///< the request's flow key, as the datapath keys it
  std::uint16_t size = 0;                    ///< IP packet length sent (TCP: the SYN's)
  std::uint64_t sent_ns = 0;                 ///< CLOCK_MONOTONIC
  std::optional<std::uint64_t> answered_ns;  ///< when the answer (or the error) came
  ProbeResult result = ProbeResult::Timeout;
  std::optional<IcmpError> icmp;
  int error = 0;  ///< errno of a LocalError (or the socket error behind an IcmpError)

  [[nodiscard]] std::optional<std::uint64_t> rtt_ns() const {
    if (!answered_ns || *answered_ns < sent_ns) return std::nullopt;
    return *answered_ns - sent_ns;
  }
};

/// @brief Sends the probes and waits for their answers (at most count * interval +
/// timeout). Fails only when no probe could be started at all (namespace gone, no
/// privileges); per-probe failures are outcomes.
Result<std::vector<ProbeOutcome>> send_probes(const ProbeSpec& spec);

/// @brief The MTU of the route from `netns` to `dst` (IP_MTU of a connected UDP socket).
Result<std::uint32_t> route_mtu(const std::string& netns, const model::IpAddress& dst);

/// @brief The large-packet probe of `podpath check`, sent after `spec`'s probes were answered.
struct MtuSend {
  std::uint16_t size = 0;  ///< the route MTU from spec.netns to spec.dst
  std::vector<ProbeOutcome> probes;
};
/// @brief Two DF echoes as large as the route's MTU from `spec.netns` to `spec.dst`, 100 ms
/// apart (for TCP/UDP first one small echo, to make sure echoes pass at all); nullopt when no
/// such probe tells anything (the MTU is not above the probes' size, or echoes get no answer).
Result<std::optional<MtuSend>> send_mtu_probes(const ProbeSpec& spec);

}  // namespace podpath::check

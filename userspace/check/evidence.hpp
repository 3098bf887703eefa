#pragma once
/// @file
/// @brief What `podpath check` knows about one pod pair, as plain data: the probes and
/// their outcomes, each direction's path hop by hop (seen / not seen, latency), the
/// kernel's drop records, and the routing, neighbour and link state that can explain
/// them. Filled by check/checker.cpp (or by hand in tests), judged by check/diagnose.hpp.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "check/probe.hpp"
#include "flows/endpoint.hpp"
#include "flows/path.hpp"
#include "model/address.hpp"
#include "model/flow.hpp"

namespace podpath::check {

/// @brief Which part of the cluster a network namespace is.
enum class PlaceKind { Node, Gateway, Pod, Unknown };

/// @brief A network namespace, named.
struct Place {
  PlaceKind kind = PlaceKind::Unknown;
  std::string name;  ///< "node2", "gateway", "default/db-0", "netns 4711"
  std::string node;  ///< the node a pod runs on (pods only)

  /// @brief "node2", "the gateway", "pod default/db-0 (node2)", "netns 4711".
  [[nodiscard]] std::string describe() const;
  bool operator==(const Place&) const = default;
};

/// @brief Dropped packets of one kind at one place (one direction of the probed flows).
struct DropFinding {
  Place place;
  std::string ifname;    ///< the device the packet was on ("" if none)
  std::string reason;    ///< "NETFILTER_DROP"; "" when the kernel reports no reasons
  std::string location;  ///< "nft_do_chain+0x46f"
  bool reply = false;    ///< the packets were answers (flowing back to the source)
  std::uint64_t count = 0;
  std::uint64_t first_ns = 0;       ///< CLOCK_MONOTONIC of the first one
  std::uint16_t ip_len = 0;         ///< IP length of the largest one
  bool df = false;                  ///< it had Don't Fragment set
  std::uint8_t ttl = 255;           ///< the lowest TTL seen
  std::vector<std::uint32_t> seqs;  ///< ICMP echo / TCP sequence numbers
  model::FlowKey key;               ///< one of the dropped packets' flow key

  /// @brief The function part of the location: "nft_do_chain".
  [[nodiscard]] std::string function() const;
};

/// @brief One hop of a direction's path with what the probes did there.
struct HopReport {
  flows::Hop hop;  ///< expected hop and its state (observed/missing/virtual/...)
  int seen = 0;    ///< probes seen here
  int total = 0;   ///< probes sent (this direction)
  std::uint64_t packets = 0;
  std::uint32_t tcp_flags = 0;
  /// @brief Median time from the previous observed hop to this one, over the probes seen
  /// at both (needs the datapath's precise clock).
  std::optional<std::uint64_t> latency_ns;

  /// @brief "node1 eth0 egress".
  [[nodiscard]] std::string describe() const;
};

/// @brief One direction (request or reply) of the probed pair.
struct PathReport {
  std::vector<HopReport> hops;
  std::string composer_verdict;  ///< the path composer's sentence
  bool complete = true;          ///< no hop missing

  [[nodiscard]] bool any_seen() const;
  /// @brief Index of the last hop that saw packets.
  [[nodiscard]] std::optional<std::size_t> last_seen() const;
  /// @brief The first hop expected (and watched) after the last one seen, that saw nothing.
  [[nodiscard]] std::optional<std::size_t> stop() const;
};

/// @brief The underlay router's route to one pod CIDR: what the inventory says, what it has.
struct GatewayRouteFact {
  std::string gateway = "gateway";
  model::IpAddress gateway_ip;
  model::IpAddress dst;                 ///< the address routed
  std::optional<model::Cidr> cidr;      ///< the pod CIDR holding dst (the expected route's)
  std::optional<std::string> expected;  ///< "10.10.130.0/24 via 10.0.0.3"
  std::string expected_node;            ///< node expected to own it
  bool read = false;                    ///< the gateway's table could be read
  std::optional<std::string> actual;    ///< what its table selects for dst; nullopt = no route
  std::optional<model::IpAddress> actual_via;
  std::string actual_node;  ///< node whose address is the actual next hop ("" if none)
  bool reject = false;      ///< the actual route is unreachable/prohibit/blackhole

  [[nodiscard]] bool missing() const { return read && !actual; }
  [[nodiscard]] bool wrong() const;
};

/// @brief An interface on (or next to) the path.
struct LinkFact {
  Place place;
  std::string ifname;
  model::InterfaceRole role = model::InterfaceRole::Other;
  std::string pod;      ///< the pod behind a pod veth
  bool up = true;       ///< administratively up
  bool running = true;  ///< up with carrier
  std::string oper_state;
  std::uint32_t mtu = 0;
  bool on_path = false;  ///< a hop of the expected request or reply path
};

/// @brief A neighbour (ARP) entry that is not usable.
struct NeighbourFact {
  Place place;
  std::string dev;
  model::IpAddress ip;
  std::string state;  ///< "incomplete", "failed"
};

/// @brief The large-packet probe: one DF echo as large as the source's MTU.
struct MtuProbe {
  std::uint16_t size = 0;
  int sent = 0;
  int answered = 0;
  std::optional<IcmpError> icmp;  ///< fragmentation needed, if a router said so
  int local_error = 0;            ///< EMSGSIZE: the sender already knows a smaller path MTU
  PathReport path;
  std::vector<DropFinding> drops;
};

/// @brief Counts over the probes (or, in passive mode, over the observed packets).
struct OutcomeSummary {
  int sent = 0;
  int answered = 0;
  int refused = 0;
  int icmp_errors = 0;
  int local_errors = 0;
  int timeouts = 0;
  std::optional<IcmpError> icmp;        ///< the first ICMP error
  int local_errno = 0;                  ///< the first local error
  std::optional<std::uint64_t> rtt_ns;  ///< median round trip of the answered ones
};

/// @brief Summarises probe outcomes.
OutcomeSummary summarize(const std::vector<ProbeOutcome>& probes);

/// @brief The large-packet probe's counts from its probes (path and drops are the caller's).
MtuProbe mtu_probe_of(std::uint16_t size, const std::vector<ProbeOutcome>& probes);

/// @brief Everything known about one pair.
struct Evidence {
  Protocol proto = Protocol::Icmp;
  std::uint16_t port = 0;
  bool passive = false;  ///< no probes: judged from observed traffic
  flows::Endpoint src;
  flows::Endpoint dst;
  std::vector<ProbeOutcome> probes;
  OutcomeSummary outcome;
  PathReport request;
  PathReport reply;
  std::vector<DropFinding> drops;  ///< both directions, in order of first occurrence
  bool drops_tracked = true;       ///< the drop program ran
  bool drop_reasons = true;        ///< the kernel reports reasons (else location only)
  std::optional<GatewayRouteFact> gateway_to_dst;
  std::optional<GatewayRouteFact> gateway_to_src;
  std::vector<LinkFact> links;
  std::vector<NeighbourFact> neighbours;
  std::optional<MtuProbe> mtu;
};

/// @brief Kinds of verdict (stable: JSON "kind").
enum class VerdictKind {
  Reachable,
  Delivered,  ///< UDP: delivered to the pod, no reply (nothing more to learn)
  NoRoute,
  Firewall,
  LinkDown,
  Neighbour,  ///< no ARP reply
  PortClosed,
  RoutingLoop,
  Mtu,
  Dropped,     ///< another kernel drop
  LocalError,  ///< the source could not send
  Lost,        ///< stopped, no explanation found
  /// @brief Stopped where nothing can be known: the hops after the last one seen are on a node
  /// whose agent does not answer (check --cluster), so "lost" would be a guess.
  Unknown,
};

const char* to_string(VerdictKind kind);

/// @brief The conclusion.
struct Verdict {
  bool reachable = false;
  VerdictKind kind = VerdictKind::Lost;
  std::string summary;  ///< one sentence: "stops after node1 eth0 egress: gateway has no route to ..."
  std::string hop;      ///< the hop it names ("node1 eth0 egress"), if any
  std::vector<std::string> details;  ///< supporting facts, one sentence each
};

}  // namespace podpath::check

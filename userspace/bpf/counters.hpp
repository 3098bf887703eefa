#pragma once
/// @file
/// @brief The health counters of podpath's BPF programs, by name. The kernel keeps them in
/// per-CPU arrays indexed by its own enums (bpf/podpath_abi.h); bpf/abi.cpp pins each
/// enumerator below to the kernel's, so nothing outside userspace/bpf needs the ABI.

#include <array>
#include <cstddef>
#include <cstdint>

namespace podpath::bpf {

/// @brief tc_flow's counters (and cgroup_flow's parse errors by kind), in the kernel's order.
enum class FlowCounter : std::uint8_t {
  Packets,          ///< packets seen by any program
  NonIp,            ///< not IPv4/IPv6: passed, not counted
  EthTruncated,     ///< first of the parse errors: shorter than an Ethernet header
  VlanTruncated,    ///< truncated 802.1Q/802.1ad tag
  VlanTooDeep,      ///< more VLAN tags than the parser follows
  Ipv4Truncated,    ///< truncated IPv4 header
  Ipv4BadHeader,    ///< IPv4 version != 4 or IHL < 5
  Ipv6Truncated,    ///< truncated IPv6 header or extension header
  Ipv6BadHeader,    ///< IPv6 version != 6
  Ipv6ExtTooDeep,   ///< more IPv6 extension headers than the walk bound
  L4Truncated,      ///< truncated TCP/UDP/ICMP/SCTP header
  TcpBadOffset,     ///< last of the parse errors: TCP data offset < 5
  FlowInsertFull,   ///< flows map insert failed: map full
  FlowInsertBusy,   ///< flows map insert failed with EBUSY
  FlowInsertOther,  ///< flows map insert failed with another errno
  FlowInsertRace,   ///< insert lost a race and the retry lookup failed
  EventsLost,       ///< new-flow event dropped: ring buffer full
  CidrUnmatched,    ///< an address matched no CIDR (counted as "other")
  Fragments,        ///< non-first fragments (counted with ports 0)
  NewFlows,         ///< flow entries created
  HeadersPulled,    ///< headers outside the linear area, pulled in before parsing
  GsoSkbs,          ///< skbs that carried several wire packets (GSO/GRO), counted per packet
  FlowRecycled,     ///< a flow entry expired and reused for another flow while a program held it
  NatRecorded,      ///< a NAT translation (DNAT to a Service backend, SNAT) recorded
  NatInsertFailed,  ///< a NAT translation not recorded: its map was full
  /// a changed flow entry not logged: the change log was full. Nothing is lost: the next
  /// refresh walks the flows maps instead (slower); the log is sized from --max-flows
  ChangeLogFull,
  Count,  ///< not a counter: how many there are
};

/// @brief cgroup_flow's counters, in the kernel's order.
enum class CgroupCounter : std::uint8_t {
  Packets,       ///< skbs seen by either program
  NonIp,         ///< neither IPv4 nor IPv6: passed, not counted
  ParseErrors,   ///< malformed or truncated header: passed, not counted
  NoCgroup,      ///< no full socket: counted under cgroup 0
  NetnsUnknown,  ///< namespace not readable in this mode: counted with cookie 0
  InsertFull,    ///< map insert failed, map full: not counted
  InsertBusy,    ///< map insert failed with EBUSY: not counted
  InsertOther,   ///< map insert failed with another errno: not counted
  InsertRace,    ///< insert lost a race and the retry lookup failed: not counted
  NewEntries,    ///< map entries created
  Fragments,     ///< non-first IP fragments (counted with ports 0)
  GsoSkbs,       ///< skbs carrying several segments (counted per segment)
  Count,         ///< not a counter: how many there are
};

/// @brief The drop program's counters, in the kernel's order. Every call lands in exactly
/// one of NotDrop .. EventsLost.
enum class DropCounter : std::uint8_t {
  Calls,       ///< kfree_skb tracepoint hits
  NotDrop,     ///< no network drop (consumed, a local socket declining its copy)
  NotIp,       ///< not IPv4/IPv6
  NoHeader,    ///< no network header set, or unreadable
  Untracked,   ///< neither address in a tracked CIDR
  Recorded,    ///< a drop event was submitted
  EventsLost,  ///< a tracked drop was lost: ring buffer full
  Count,       ///< not a counter: how many there are
};

/// @brief Stable, documented names ("parse_ipv4_truncated", "insert_full", "recorded"),
/// used as JSON keys and in `podpath debug dump`.
const char* counter_name(FlowCounter counter);
const char* counter_name(CgroupCounter counter);
const char* counter_name(DropCounter counter);

/// @brief One value per counter of one program, summed over CPUs.
template <typename Counter> class CounterSet {
 public:
  static constexpr std::size_t kSize = static_cast<std::size_t>(Counter::Count);

  CounterSet() = default;
  /// @brief From the values in the kernel's order.
  explicit CounterSet(const std::array<std::uint64_t, kSize>& values) : values_(values) {}

  [[nodiscard]] std::uint64_t operator[](Counter c) const { return values_[index(c)]; }
  std::uint64_t& operator[](Counter c) { return values_[index(c)]; }
  /// @brief Every counter, in the kernel's order.
  static constexpr std::array<Counter, kSize> all() {
    std::array<Counter, kSize> out{};
    for (std::size_t i = 0; i < kSize; ++i) out[i] = static_cast<Counter>(i);
    return out;
  }
  bool operator==(const CounterSet&) const = default;

 private:
  static constexpr std::size_t index(Counter c) { return static_cast<std::size_t>(c); }
  std::array<std::uint64_t, kSize> values_{};
};

using FlowCounters = CounterSet<FlowCounter>;
using CgroupCounters = CounterSet<CgroupCounter>;
using DropCounters = CounterSet<DropCounter>;

/// @brief Packets tc_flow could not parse, all kinds (EthTruncated .. TcpBadOffset).
std::uint64_t parse_errors(const FlowCounters& counters);
/// @brief Packets cgroup_flow could not count because the map refused the entry (full,
/// busy, another error, a lost race).
std::uint64_t insert_failures(const CgroupCounters& counters);

}  // namespace podpath::bpf

#include "bpf/counters.hpp"

namespace podpath::bpf {
namespace {

template <typename Counter, std::size_t N> const char* name_of(Counter c, const char* const (&names)[N]) {
  static_assert(N == CounterSet<Counter>::kSize, "one name per counter");
  const auto i = static_cast<std::size_t>(c);
  return i < N ? names[i] : "unknown";
}

}  // namespace

const char* counter_name(FlowCounter counter) {
  static constexpr const char* kNames[] = {
      "packets",
      "non_ip",
      "parse_eth_truncated",
      "parse_vlan_truncated",
      "parse_vlan_too_deep",
      "parse_ipv4_truncated",
      "parse_ipv4_bad_header",
      "parse_ipv6_truncated",
      "parse_ipv6_bad_header",
      "parse_ipv6_ext_too_deep",
      "parse_l4_truncated",
      "parse_tcp_bad_offset",
      "flow_insert_full",
      "flow_insert_busy",
      "flow_insert_other",
      "flow_insert_race",
      "events_lost_ringbuf_full",
      "cidr_unmatched_addresses",
      "fragments",
      "new_flows",
      "headers_pulled",
      "gso_skbs",
      "flow_recycled",
      "nat_recorded",
      "nat_insert_failed",
      "change_log_full",
  };
  return name_of(counter, kNames);
}

const char* counter_name(CgroupCounter counter) {
  static constexpr const char* kNames[] = {
      "packets",     "non_ip",       "parse_errors", "no_cgroup",   "netns_unknown", "insert_full",
      "insert_busy", "insert_other", "insert_race",  "new_entries", "fragments",     "gso_skbs",
  };
  return name_of(counter, kNames);
}

const char* counter_name(DropCounter counter) {
  static constexpr const char* kNames[] = {
      "calls", "not_drops", "not_ip", "no_header", "untracked", "recorded", "events_lost_ringbuf_full",
  };
  return name_of(counter, kNames);
}

std::uint64_t parse_errors(const FlowCounters& c) {
  std::uint64_t n = 0;
  for (auto i = static_cast<std::size_t>(FlowCounter::EthTruncated);
       i <= static_cast<std::size_t>(FlowCounter::TcpBadOffset); ++i) {
    n += c[static_cast<FlowCounter>(i)];
  }
  return n;
}

std::uint64_t insert_failures(const CgroupCounters& c) {
  return c[CgroupCounter::InsertFull] + c[CgroupCounter::InsertBusy] + c[CgroupCounter::InsertOther] +
         c[CgroupCounter::InsertRace];
}

}  // namespace podpath::bpf

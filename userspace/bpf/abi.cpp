#include "bpf/abi.hpp"

#include <cstring>
#include <string>

namespace podpath::bpf {

// The counter enums of bpf/counters.hpp are the kernel's indices: a counter added to the
// ABI without its name there stops the build here.
static_assert(FlowCounters::kSize == PP_CNT_MAX, "name the new counter in bpf/counters.hpp");
static_assert(static_cast<int>(FlowCounter::Packets) == PP_CNT_PACKETS);
static_assert(static_cast<int>(FlowCounter::NonIp) == PP_CNT_NON_IP);
static_assert(static_cast<int>(FlowCounter::EthTruncated) == PP_CNT_ERR_ETH_TRUNC);
static_assert(static_cast<int>(FlowCounter::VlanTruncated) == PP_CNT_ERR_VLAN_TRUNC);
static_assert(static_cast<int>(FlowCounter::VlanTooDeep) == PP_CNT_ERR_VLAN_DEPTH);
static_assert(static_cast<int>(FlowCounter::Ipv4Truncated) == PP_CNT_ERR_IPV4_TRUNC);
static_assert(static_cast<int>(FlowCounter::Ipv4BadHeader) == PP_CNT_ERR_IPV4_HDR);
static_assert(static_cast<int>(FlowCounter::Ipv6Truncated) == PP_CNT_ERR_IPV6_TRUNC);
static_assert(static_cast<int>(FlowCounter::Ipv6BadHeader) == PP_CNT_ERR_IPV6_HDR);
static_assert(static_cast<int>(FlowCounter::Ipv6ExtTooDeep) == PP_CNT_ERR_IPV6_EXT_DEPTH);
static_assert(static_cast<int>(FlowCounter::L4Truncated) == PP_CNT_ERR_L4_TRUNC);
static_assert(static_cast<int>(FlowCounter::TcpBadOffset) == PP_CNT_ERR_TCP_DOFF);
static_assert(static_cast<int>(FlowCounter::FlowInsertFull) == PP_CNT_FLOW_INSERT_FULL);
static_assert(static_cast<int>(FlowCounter::FlowInsertBusy) == PP_CNT_FLOW_INSERT_BUSY);
static_assert(static_cast<int>(FlowCounter::FlowInsertOther) == PP_CNT_FLOW_INSERT_OTHER);
static_assert(static_cast<int>(FlowCounter::FlowInsertRace) == PP_CNT_FLOW_RACE);
static_assert(static_cast<int>(FlowCounter::EventsLost) == PP_CNT_RINGBUF_FULL);
static_assert(static_cast<int>(FlowCounter::CidrUnmatched) == PP_CNT_LPM_MISS);
static_assert(static_cast<int>(FlowCounter::Fragments) == PP_CNT_FRAGMENTS);
static_assert(static_cast<int>(FlowCounter::NewFlows) == PP_CNT_NEW_FLOWS);
static_assert(static_cast<int>(FlowCounter::HeadersPulled) == PP_CNT_PULLED);
static_assert(static_cast<int>(FlowCounter::GsoSkbs) == PP_CNT_GSO);
static_assert(static_cast<int>(FlowCounter::FlowRecycled) == PP_CNT_FLOW_RECYCLED);
static_assert(static_cast<int>(FlowCounter::NatRecorded) == PP_CNT_NAT_RECORDED);
static_assert(static_cast<int>(FlowCounter::NatInsertFailed) == PP_CNT_NAT_INSERT_FAIL);
static_assert(static_cast<int>(FlowCounter::ChangeLogFull) == PP_CNT_CHANGE_LOG_FULL);

static_assert(CgroupCounters::kSize == PP_CG_CNT_MAX, "name the new counter in bpf/counters.hpp");
static_assert(static_cast<int>(CgroupCounter::Packets) == PP_CG_CNT_PACKETS);
static_assert(static_cast<int>(CgroupCounter::NonIp) == PP_CG_CNT_NON_IP);
static_assert(static_cast<int>(CgroupCounter::ParseErrors) == PP_CG_CNT_PARSE_ERR);
static_assert(static_cast<int>(CgroupCounter::NoCgroup) == PP_CG_CNT_NO_CGROUP);
static_assert(static_cast<int>(CgroupCounter::NetnsUnknown) == PP_CG_CNT_NETNS_UNKNOWN);
static_assert(static_cast<int>(CgroupCounter::InsertFull) == PP_CG_CNT_INSERT_FULL);
static_assert(static_cast<int>(CgroupCounter::InsertBusy) == PP_CG_CNT_INSERT_BUSY);
static_assert(static_cast<int>(CgroupCounter::InsertOther) == PP_CG_CNT_INSERT_OTHER);
static_assert(static_cast<int>(CgroupCounter::InsertRace) == PP_CG_CNT_INSERT_RACE);
static_assert(static_cast<int>(CgroupCounter::NewEntries) == PP_CG_CNT_NEW_ENTRIES);
static_assert(static_cast<int>(CgroupCounter::Fragments) == PP_CG_CNT_FRAGMENTS);
static_assert(static_cast<int>(CgroupCounter::GsoSkbs) == PP_CG_CNT_GSO);

static_assert(DropCounters::kSize == PP_DROP_CNT_MAX, "name the new counter in bpf/counters.hpp");
static_assert(static_cast<int>(DropCounter::Calls) == PP_DROP_CNT_CALLS);
static_assert(static_cast<int>(DropCounter::NotDrop) == PP_DROP_CNT_NOT_DROP);
static_assert(static_cast<int>(DropCounter::NotIp) == PP_DROP_CNT_NOT_IP);
static_assert(static_cast<int>(DropCounter::NoHeader) == PP_DROP_CNT_NO_HEADER);
static_assert(static_cast<int>(DropCounter::Untracked) == PP_DROP_CNT_UNTRACKED);
static_assert(static_cast<int>(DropCounter::Recorded) == PP_DROP_CNT_RECORDED);
static_assert(static_cast<int>(DropCounter::EventsLost) == PP_DROP_CNT_RINGBUF_FULL);

static_assert(kCidrOther == PP_CIDR_OTHER && kMaxCidrs == PP_MAX_CIDRS);

model::FlowKey from_abi(const pp_flow_key& key) {
  model::FlowKey k;
  std::memcpy(k.src.bytes.data(), key.saddr, 16);
  std::memcpy(k.dst.bytes.data(), key.daddr, 16);
  k.sport = key.sport;
  k.dport = key.dport;
  k.proto = key.proto;
  k.fragment = (key.flags & PP_KEY_F_FRAGMENT) != 0;
  k.v4_mapped_ipv6 = (key.flags & PP_KEY_F_IPV6) != 0 && k.src.is_v4() && k.dst.is_v4();
  return k;
}

model::NatRecord to_model(const pp_nat4_key& key, const pp_nat4_value& value, std::uint64_t netns_cookie) {
  model::NatRecord r;
  r.point.netns_cookie = netns_cookie;
  r.point.ifindex = PP_POINT_IFINDEX(value.if_dir);
  r.point.direction = PP_POINT_DIRECTION(value.if_dir) == PP_DIR_EGRESS ? model::Direction::Egress
                                                                        : model::Direction::Ingress;
  r.original.src = model::IpAddress::from_bytes(key.saddr, 4);
  r.original.dst = model::IpAddress::from_bytes(key.daddr, 4);
  r.original.sport = key.sport;
  r.original.dport = key.dport;
  r.original.proto = key.proto;
  r.reply.src = model::IpAddress::from_bytes(value.reply_saddr, 4);
  r.reply.dst = model::IpAddress::from_bytes(value.reply_daddr, 4);
  r.reply.sport = value.reply_sport;
  r.reply.dport = value.reply_dport;
  r.reply.proto = key.proto;
  r.dnat = (value.status & PP_NAT_F_DST) != 0;
  r.snat = (value.status & PP_NAT_F_SRC) != 0;
  r.first_seen_ns = value.first_seen_ns;
  return r;
}

pp_nat4_key to_nat_key(const model::NatRecord& record) {
  pp_nat4_key k{};
  k.netns = static_cast<__u32>(record.point.netns_cookie);
  std::memcpy(k.saddr, record.original.src.bytes.data() + 12, 4);
  std::memcpy(k.daddr, record.original.dst.bytes.data() + 12, 4);
  k.sport = record.original.sport;
  k.dport = record.original.dport;
  k.proto = record.original.proto;
  return k;
}

pp_flow_key to_abi(const model::FlowKey& key) {
  pp_flow_key k{};
  std::memcpy(k.saddr, key.src.bytes.data(), 16);
  std::memcpy(k.daddr, key.dst.bytes.data(), 16);
  k.sport = key.sport;
  k.dport = key.dport;
  k.proto = key.proto;
  const bool ipv6 = key.v4_mapped_ipv6 || !key.src.is_v4() || !key.dst.is_v4();
  k.flags = static_cast<__u8>((key.fragment ? PP_KEY_F_FRAGMENT : 0) | (ipv6 ? PP_KEY_F_IPV6 : 0));
  return k;
}

pp_cidr_key to_abi(const model::Cidr& cidr) {
  pp_cidr_key k{};
  k.prefixlen = cidr.prefix_len128();
  std::memcpy(k.addr, cidr.network.bytes.data(), 16);
  return k;
}

pp_cidr_info to_abi(const CidrRule& rule) {
  return {rule.id, rule.counted_at_source ? static_cast<__u32>(PP_CIDR_F_COUNTED_AT_SOURCE) : 0U};
}

__u32 to_abi(model::InterfaceRole role) {
  switch (role) {
  case model::InterfaceRole::PodVeth:
    return PP_ROLE_POD;
  case model::InterfaceRole::Bridge:
    return PP_ROLE_BRIDGE;
  case model::InterfaceRole::Uplink:
    return PP_ROLE_UPLINK;
  case model::InterfaceRole::Gateway:
  case model::InterfaceRole::Other:
    break;
  }
  return PP_ROLE_OTHER;
}

model::FlowRecord to_model(const pp_flow_map_key& key, const pp_flow_stats& stats,
                           std::uint64_t netns_cookie) {
  model::FlowRecord r;
  r.point.netns_cookie = netns_cookie;
  r.point.ifindex = key.point.if_dir >> 1;  // PP_POINT_IFINDEX
  r.point.direction =
      (key.point.if_dir & 1) == PP_DIR_EGRESS ? model::Direction::Egress : model::Direction::Ingress;
  r.key = from_abi(key.flow);
  r.stats.packets = stats.packets;
  r.stats.bytes = stats.bytes;
  r.stats.first_seen_ns = stats.first_seen_ns;
  r.stats.last_seen_ns = stats.last_seen_ns;
  r.stats.tcp_flags = stats.tcp_flags;
  r.stats.src_cidr = stats.src_cidr;
  r.stats.dst_cidr = stats.dst_cidr;
  r.stats.in_matrix = (stats.flags & PP_FLOW_F_MATRIX) != 0;
  return r;
}

pp_flow_map_key to_abi(const model::ObservationPoint& point, const model::FlowKey& key) {
  pp_flow_map_key k{};
  k.point.netns = static_cast<__u32>(point.netns_cookie);
  // PP_POINT_IF_DIR
  k.point.if_dir =
      point.ifindex << 1 | (point.direction == model::Direction::Egress ? PP_DIR_EGRESS : PP_DIR_INGRESS);
  k.flow = to_abi(key);
  return k;
}

pp_flow_map_key widen(const pp_flow4_map_key& k4) {
  pp_flow_map_key k{};
  k.point = k4.point;
  k.flow.saddr[10] = k.flow.saddr[11] = 0xff;
  k.flow.daddr[10] = k.flow.daddr[11] = 0xff;
  std::memcpy(k.flow.saddr + 12, k4.saddr, 4);
  std::memcpy(k.flow.daddr + 12, k4.daddr, 4);
  k.flow.sport = k4.sport;
  k.flow.dport = k4.dport;
  k.flow.proto = k4.proto;
  k.flow.flags = k4.flags;
  return k;
}

pp_flow4_map_key narrow(const pp_flow_map_key& k) {
  pp_flow4_map_key k4{};
  k4.point = k.point;
  std::memcpy(k4.saddr, k.flow.saddr + 12, 4);
  std::memcpy(k4.daddr, k.flow.daddr + 12, 4);
  k4.sport = k.flow.sport;
  k4.dport = k.flow.dport;
  k4.proto = k.flow.proto;
  k4.flags = k.flow.flags;
  return k4;
}

CgroupFlowRecord to_record(const pp_cg_flow_key& key, const pp_cg_flow_stats& stats) {
  CgroupFlowRecord r;
  r.cgroup_id = key.cgroup_id;
  r.netns_cookie = key.netns_cookie;
  std::memcpy(r.local.bytes.data(), key.laddr, 16);
  std::memcpy(r.remote.bytes.data(), key.raddr, 16);
  r.local_port = key.lport;
  r.remote_port = key.rport;
  r.proto = key.proto;
  r.fragment = (key.flags & PP_KEY_F_FRAGMENT) != 0;
  r.ipv6 = (key.flags & PP_KEY_F_IPV6) != 0;
  r.tx_packets = stats.tx_packets;
  r.tx_bytes = stats.tx_bytes;
  r.rx_packets = stats.rx_packets;
  r.rx_bytes = stats.rx_bytes;
  r.first_seen_ns = stats.first_seen_ns;
  r.last_seen_ns = stats.last_seen_ns;
  return r;
}

pp_cg_flow_key to_cg_key(const CgroupFlowRecord& r) {
  pp_cg_flow_key k{};
  k.cgroup_id = r.cgroup_id;
  k.netns_cookie = r.netns_cookie;
  std::memcpy(k.laddr, r.local.bytes.data(), 16);
  std::memcpy(k.raddr, r.remote.bytes.data(), 16);
  k.lport = r.local_port;
  k.rport = r.remote_port;
  k.proto = r.proto;
  k.flags = static_cast<__u8>((r.fragment ? PP_KEY_F_FRAGMENT : 0) | (r.ipv6 ? PP_KEY_F_IPV6 : 0));
  return k;
}

__u8 to_abi(CgroupNetnsMode mode) {
  switch (mode) {
  case CgroupNetnsMode::Helper:
    return PP_CG_NETNS_HELPER;
  case CgroupNetnsMode::KernCtx:
    return PP_CG_NETNS_KERN_CTX;
  case CgroupNetnsMode::SockCast:
    return PP_CG_NETNS_SOCK_CAST;
  case CgroupNetnsMode::None:
    break;
  }
  return PP_CG_NETNS_NONE;
}

DropEvent to_drop_event(const pp_drop_event& ev, const DropReasonNames& names) {
  DropEvent out;
  out.ts_ns = ev.ts_ns;
  out.location = ev.location;
  out.netns_cookie = ev.netns_cookie;
  out.key = from_abi(ev.flow);
  out.has_reason = (ev.flags & PP_DROP_F_REASON) != 0;
  out.reason = ev.reason;
  if (out.has_reason) out.reason_name = names.name(ev.reason);
  out.ifindex = ev.ifindex;
  out.skb_iif = ev.skb_iif;
  out.ifname = std::string(ev.ifname, strnlen(ev.ifname, sizeof(ev.ifname)));
  out.seq = ev.seq;
  out.ip_id = ev.ip_id;
  out.ip_len = ev.ip_len;
  out.ttl = ev.ttl;
  out.tcp_flags = ev.tcp_flags;
  out.df = (ev.flags & PP_DROP_F_DF) != 0;
  return out;
}

}  // namespace podpath::bpf

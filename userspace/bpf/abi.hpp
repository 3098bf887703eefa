#pragma once
/// @file
/// @brief The kernel ABI (bpf/podpath_abi.h) as seen from C++: its layout pinned (if the C
/// header changes shape, this stops compiling) and every conversion between its structs,
/// enums and flags and the plain types the rest of podpath uses (abi.cpp, which also pins
/// the counter enums of bpf/counters.hpp to the kernel's).
///
/// Internal to userspace/bpf: the ABI header is on this layer's private include path, so
/// no other layer can include this file.

#include <cstddef>
#include <cstdint>

#include "bpf/cgroup_abi.hpp"
#include "bpf/cgroup_datapath.hpp"
#include "bpf/datapath.hpp"
#include "bpf/drop_abi.hpp"
#include "bpf/drops.hpp"
#include "bpf/events.hpp"
#include "model/address.hpp"
#include "model/flow.hpp"
#include "model/interface.hpp"
#include "podpath_abi.h"

namespace podpath::bpf {

static_assert(sizeof(pp_obs_point) == 8);
static_assert(offsetof(pp_obs_point, if_dir) == 4);

static_assert(sizeof(pp_flow_key) == 40);
static_assert(offsetof(pp_flow_key, daddr) == 16);
static_assert(offsetof(pp_flow_key, sport) == 32);
static_assert(offsetof(pp_flow_key, dport) == 34);
static_assert(offsetof(pp_flow_key, proto) == 36);
static_assert(offsetof(pp_flow_key, flags) == 37);

static_assert(sizeof(pp_flow_map_key) == 48);
static_assert(offsetof(pp_flow_map_key, flow) == 8);

static_assert(sizeof(pp_flow4_map_key) == 24);
static_assert(offsetof(pp_flow4_map_key, saddr) == 8);
static_assert(offsetof(pp_flow4_map_key, sport) == 16);
static_assert(offsetof(pp_flow4_map_key, proto) == 20);
static_assert(offsetof(pp_flow4_map_key, flags) == 21);

// 48 bytes (40 before the change log's epoch stamp): with the 48-byte key and the kernel's
// element header a tracked IPv6 flow costs 160 bytes of map memory (docs/datapath.md).
// Userspace never keeps log_epoch: model::FlowRecord does not carry it.
static_assert(sizeof(pp_flow_stats) == 48);
static_assert(offsetof(pp_flow_stats, src_cidr) == 32);
static_assert(offsetof(pp_flow_stats, dst_cidr) == 34);
static_assert(offsetof(pp_flow_stats, tcp_flags) == 36);
static_assert(offsetof(pp_flow_stats, flags) == 37);
static_assert(offsetof(pp_flow_stats, key_tag) == 38);
static_assert(offsetof(pp_flow_stats, log_epoch) == 40);
static_assert(offsetof(pp_flow_stats, pad) == 44);

// Flows-map iterator records (bpf/flow_iter.bpf.c): key then value, no padding between.
static_assert(sizeof(pp_flow4_record) == 72);
static_assert(offsetof(pp_flow4_record, stats) == 24);
static_assert(sizeof(pp_flow_record) == 96);
static_assert(offsetof(pp_flow_record, stats) == 48);

static_assert(sizeof(pp_cidr_key) == 20);
static_assert(sizeof(pp_cidr_info) == 8);
static_assert(sizeof(pp_matrix_cell) == 16);

static_assert(sizeof(pp_flow_event) == 8);
static_assert(sizeof(pp_iface_key) == 8);
static_assert(sizeof(pp_nat4_key) == 20);
static_assert(offsetof(pp_nat4_key, sport) == 12);
static_assert(offsetof(pp_nat4_key, proto) == 16);
static_assert(sizeof(pp_nat4_value) == 32);
static_assert(offsetof(pp_nat4_value, status) == 12);
static_assert(offsetof(pp_nat4_value, first_seen_ns) == 24);
static_assert(sizeof(pp_iface_info) == 8);
static_assert(sizeof(pp_log_slot) == 56);
static_assert(offsetof(pp_log_slot, key) == 8);
// A per-CPU value is read as one such struct per CPU: its size must be a multiple of 8.
static_assert(sizeof(pp_log_stage) == 16 + PP_LOG_STAGE_SLOTS * sizeof(pp_log_slot));
static_assert(sizeof(pp_log_stage) % 8 == 0);

/// @brief The flow key as the kernel writes it -> the model's (addresses, ports, protocol,
/// fragment flag, IPv6 packet with v4-mapped addresses). Used for flow records, flow events and drop events
/// alike.
model::FlowKey from_abi(const pp_flow_key& key);
/// @brief The model's flow key -> the kernel's: the exact inverse of from_abi(), so that a
/// key read from a map deletes its entry (PP_KEY_F_IPV6 from the address family, or from
/// v4_mapped_ipv6 where both addresses are v4-mapped).
pp_flow_key to_abi(const model::FlowKey& key);
/// @brief A CIDR as an LPM trie key over v4-mapped 128-bit addresses.
pp_cidr_key to_abi(const model::Cidr& cidr);
/// @brief A classifier rule's value: its id and PP_CIDR_F_* flags.
pp_cidr_info to_abi(const CidrRule& rule);
/// @brief An interface role as the programs know it (enum pp_iface_role); the virtual
/// Gateway role (never attached to) and Other are PP_ROLE_OTHER.
__u32 to_abi(model::InterfaceRole role);

/// @brief A flows-map entry -> the model's record. `netns_cookie` is the full cookie behind
/// key.point.netns (the kernel records its low 32 bits).
model::FlowRecord to_model(const pp_flow_map_key& key, const pp_flow_stats& stats,
                           std::uint64_t netns_cookie);
/// @brief The flows-map key of a flow direction at an observation point.
pp_flow_map_key to_abi(const model::ObservationPoint& point, const model::FlowKey& key);
/// @brief An IPv4 flows-map key (pp_flows4, 4-byte addresses) as the 48-byte key of
/// pp_flows (v4-mapped addresses), and back: the IPv4 map's key carries the same fields.
pp_flow_map_key widen(const pp_flow4_map_key& key);
pp_flow4_map_key narrow(const pp_flow_map_key& key);

/// @brief A NAT-map entry -> the model's record (`netns_cookie`: the full cookie behind
/// key.netns), and the record back to its key.
model::NatRecord to_model(const pp_nat4_key& key, const pp_nat4_value& value, std::uint64_t netns_cookie);
pp_nat4_key to_nat_key(const model::NatRecord& record);

/// @brief A container-flows entry -> its plain form, and back to the key.
CgroupFlowRecord to_record(const pp_cg_flow_key& key, const pp_cg_flow_stats& stats);
pp_cg_flow_key to_cg_key(const CgroupFlowRecord& record);
/// @brief The namespace mode as cgroup_flow's load-time constant (enum pp_cg_netns_mode).
__u8 to_abi(CgroupNetnsMode mode);

/// @brief A drop record as userspace sees it (reason named by `names`).
DropEvent to_drop_event(const pp_drop_event& event, const DropReasonNames& names);

}  // namespace podpath::bpf

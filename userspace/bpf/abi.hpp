#pragma once
/// @file
/// @brief The kernel ABI (bpf/podpath_abi.h) as seen from C++, with its layout pinned:
/// if the C header changes shape, this stops compiling.

#include <cstddef>

#include "model/address.hpp"
#include "model/flow.hpp"
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

// 40 bytes: with the 48-byte key and the kernel's element header a tracked flow costs
// 152 bytes of map memory (docs/datapath.md).
static_assert(sizeof(pp_flow_stats) == 40);
static_assert(offsetof(pp_flow_stats, src_cidr) == 32);
static_assert(offsetof(pp_flow_stats, dst_cidr) == 34);
static_assert(offsetof(pp_flow_stats, tcp_flags) == 36);
static_assert(offsetof(pp_flow_stats, flags) == 37);
static_assert(offsetof(pp_flow_stats, key_tag) == 38);

static_assert(sizeof(pp_cidr_key) == 20);
static_assert(sizeof(pp_cidr_info) == 8);
static_assert(sizeof(pp_matrix_cell) == 16);

static_assert(sizeof(pp_flow_event) == 72);
static_assert(offsetof(pp_flow_event, flow) == 8);
static_assert(offsetof(pp_flow_event, ts_ns) == 48);
static_assert(offsetof(pp_flow_event, len) == 56);
static_assert(offsetof(pp_flow_event, src_cidr) == 60);
static_assert(offsetof(pp_flow_event, tcp_flags) == 64);
static_assert(sizeof(pp_iface_key) == 8);
static_assert(sizeof(pp_iface_info) == 8);
// counter_name() in datapath.cpp lists every counter; extend it with the enum.
static_assert(PP_CNT_MAX == 23, "update counter_name() for the new counter");

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

}  // namespace podpath::bpf

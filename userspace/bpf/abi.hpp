#pragma once
/// @file
/// @brief The kernel ABI (bpf/podpath_abi.h) as seen from C++, with its layout pinned:
/// if the C header changes shape, this stops compiling.

#include <cstddef>

#include "podpath_abi.h"

namespace podpath::bpf {

static_assert(sizeof(pp_obs_point) == 16);
static_assert(offsetof(pp_obs_point, ifindex) == 8);
static_assert(offsetof(pp_obs_point, direction) == 12);

static_assert(sizeof(pp_flow_key) == 40);
static_assert(offsetof(pp_flow_key, daddr) == 16);
static_assert(offsetof(pp_flow_key, sport) == 32);
static_assert(offsetof(pp_flow_key, dport) == 34);
static_assert(offsetof(pp_flow_key, proto) == 36);
static_assert(offsetof(pp_flow_key, flags) == 37);

static_assert(sizeof(pp_flow_map_key) == 56);
static_assert(offsetof(pp_flow_map_key, flow) == 16);

static_assert(sizeof(pp_flow_stats) == 48);
static_assert(offsetof(pp_flow_stats, tcp_flags) == 32);
static_assert(offsetof(pp_flow_stats, src_cidr) == 36);
static_assert(offsetof(pp_flow_stats, dst_cidr) == 38);
static_assert(offsetof(pp_flow_stats, flags) == 40);

static_assert(sizeof(pp_cidr_key) == 20);
static_assert(sizeof(pp_cidr_info) == 8);
static_assert(sizeof(pp_matrix_cell) == 16);

static_assert(sizeof(pp_flow_event) == 80);
static_assert(offsetof(pp_flow_event, flow) == 16);
static_assert(offsetof(pp_flow_event, ts_ns) == 56);
static_assert(offsetof(pp_flow_event, len) == 64);
static_assert(offsetof(pp_flow_event, src_cidr) == 72);

static_assert(sizeof(pp_iface_key) == 16);
static_assert(sizeof(pp_iface_info) == 8);
// counter_name() in datapath.cpp lists every counter; extend it with the enum.
static_assert(PP_CNT_MAX == 21, "update counter_name() for the new counter");

}  // namespace podpath::bpf

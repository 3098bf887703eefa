#pragma once
/// @file
/// @brief The container-attribution part of the kernel ABI (bpf/podpath_abi.h), layout
/// pinned: if the C header changes shape, this stops compiling.

#include <cstddef>

#include "podpath_abi.h"

namespace podpath::bpf {

static_assert(sizeof(pp_cg_flow_key) == 56);
static_assert(offsetof(pp_cg_flow_key, netns_cookie) == 8);
static_assert(offsetof(pp_cg_flow_key, laddr) == 16);
static_assert(offsetof(pp_cg_flow_key, raddr) == 32);
static_assert(offsetof(pp_cg_flow_key, lport) == 48);
static_assert(offsetof(pp_cg_flow_key, rport) == 50);
static_assert(offsetof(pp_cg_flow_key, proto) == 52);
static_assert(offsetof(pp_cg_flow_key, flags) == 53);
static_assert(offsetof(pp_cg_flow_key, pad) == 54);

// 48 bytes: with the 56-byte key and the kernel's hash element header an entry costs
// about 160 bytes of map memory (docs/containers.md).
static_assert(sizeof(pp_cg_flow_stats) == 48);
static_assert(offsetof(pp_cg_flow_stats, rx_packets) == 16);
static_assert(offsetof(pp_cg_flow_stats, first_seen_ns) == 32);
static_assert(offsetof(pp_cg_flow_stats, last_seen_ns) == 40);

static_assert(PP_CG_NETNS_NONE == 0 && PP_CG_NETNS_HELPER == 1 && PP_CG_NETNS_KERN_CTX == 2 &&
              PP_CG_NETNS_SOCK_CAST == 3);

}  // namespace podpath::bpf

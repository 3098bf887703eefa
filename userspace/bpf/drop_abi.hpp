#pragma once
/// @file
/// @brief The drop-tracking part of the kernel ABI (bpf/podpath_abi.h), layout pinned: if
/// the C header changes shape, this stops compiling.

#include <cstddef>

#include "podpath_abi.h"

namespace podpath::bpf {

static_assert(sizeof(pp_drop_event) == 104);
static_assert(offsetof(pp_drop_event, location) == 8);
static_assert(offsetof(pp_drop_event, netns_cookie) == 16);
static_assert(offsetof(pp_drop_event, flow) == 24);
static_assert(offsetof(pp_drop_event, reason) == 64);
static_assert(offsetof(pp_drop_event, ifindex) == 68);
static_assert(offsetof(pp_drop_event, skb_iif) == 72);
static_assert(offsetof(pp_drop_event, seq) == 76);
static_assert(offsetof(pp_drop_event, ip_id) == 80);
static_assert(offsetof(pp_drop_event, ip_len) == 82);
static_assert(offsetof(pp_drop_event, ttl) == 84);
static_assert(offsetof(pp_drop_event, tcp_flags) == 85);
static_assert(offsetof(pp_drop_event, flags) == 86);
static_assert(offsetof(pp_drop_event, pad) == 87);
static_assert(offsetof(pp_drop_event, ifname) == 88);

}  // namespace podpath::bpf

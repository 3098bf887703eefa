// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tc_flow: TC programs for cbr0, pod veths and the node uplink.
 *
 * Hook: TC clsact ingress/egress (or tcx). Counts packets into the health
 * counters. Always returns TC_ACT_UNSPEC so the next filter runs, and never
 * writes to the packet.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "podpath_abi.h"

#define TC_ACT_UNSPEC (-1)

/* Key: enum pp_counter. Value: count (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pp_counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&pp_counters, &which);

	if (v)
		*v += 1;
}

SEC("tc")
int pp_tc_ingress(struct __sk_buff *skb)
{
	count(PP_CNT_PACKETS);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int pp_tc_egress(struct __sk_buff *skb)
{
	count(PP_CNT_PACKETS);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps of the cgroup_flow object (container attribution) and its counter helpers.
 * Sizes are defaults: userspace resizes pp_cg_flows between open and load.
 */
#ifndef PODPATH_CGROUP_MAPS_BPF_H
#define PODPATH_CGROUP_MAPS_BPF_H

#include "podpath_abi.h"

/* Key: struct pp_cg_flow_key (cgroup, netns, local/remote end). Value: struct
 * pp_cg_flow_stats. Entries leave only when userspace deletes them (a plain hash:
 * an LRU would evict, i.e. lose counts, without telling anyone). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pp_cg_flow_key);
	__type(value, struct pp_cg_flow_stats);
} pp_cg_flows SEC(".maps");

/* Key: enum pp_cg_counter. Value: count (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PP_CG_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pp_cg_counters SEC(".maps");

/* Key: enum pp_counter (only the parser's PP_CNT_ERR_* values are used). Value: count
 * (per CPU): which parse errors PP_CG_CNT_PARSE_ERR counted. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pp_cg_parse_errors SEC(".maps");

static __always_inline void pp_cg_count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&pp_cg_counters, &which);

	if (v)
		*v += 1;
}

static __always_inline void pp_cg_count_parse_error(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&pp_cg_parse_errors, &which);

	if (v)
		*v += 1;
}

#endif /* PODPATH_CGROUP_MAPS_BPF_H */

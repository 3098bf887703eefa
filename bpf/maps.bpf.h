/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps of the tc_flow object and the counters helper. Sizes here are defaults:
 * userspace resizes the flows maps and the ring buffer, and may switch the flows
 * maps between HASH and LRU_HASH, between open and load.
 */
#ifndef PODPATH_MAPS_BPF_H
#define PODPATH_MAPS_BPF_H

#include "podpath_abi.h"

/* Key: struct pp_flow_map_key (point + flow), IPv6 packets. Value: struct pp_flow_stats.
 * Entries leave when userspace expires idle flows (or by LRU eviction when
 * userspace chose LRU_HASH). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pp_flow_map_key);
	__type(value, struct pp_flow_stats);
} pp_flows SEC(".maps");

/* Key: struct pp_flow4_map_key (point + flow), IPv4 packets. Value: struct pp_flow_stats.
 * Same life cycle as pp_flows. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pp_flow4_map_key);
	__type(value, struct pp_flow_stats);
} pp_flows4 SEC(".maps");

/* Key: 0. Value: __u64, a time on the programs' clock (pp_flow_stats.first_seen_ns) until
 * which new flows are not inserted: the flows map was full. Set by the programs when an
 * insert fails for lack of room, reset to 0 by userspace whenever it deletes entries. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pp_flows_full SEC(".maps");

/* Key: struct pp_nat4_key (a translated connection's original tuple, in its namespace).
 * Value: struct pp_nat4_value (its reply tuple). Written once per connection by the first
 * new flow at an egress point that conntrack translated; userspace deletes an entry once no
 * flow of its connection is left (flows/nat.hpp). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pp_nat4_key);
	__type(value, struct pp_nat4_value);
} pp_nat4 SEC(".maps");

/* Key: struct pp_cidr_key (prefix). Value: struct pp_cidr_info. Filled by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pp_cidr_key);
	__type(value, struct pp_cidr_info);
} pp_cidrs SEC(".maps");

/* Key: src_cidr * PP_MAX_CIDRS + dst_cidr. Value: struct pp_matrix_cell (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PP_MAX_CIDRS *PP_MAX_CIDRS);
	__type(key, __u32);
	__type(value, struct pp_matrix_cell);
} pp_matrix SEC(".maps");

/* Key: struct pp_iface_key. Value: struct pp_iface_info. Filled by userspace on attach;
 * read only when a flow is first seen at a point. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pp_iface_key);
	__type(value, struct pp_iface_info);
} pp_ifaces SEC(".maps");

/* Records: struct pp_flow_event, a wake-up when flows are first seen: at most one per CPU
 * per PP_EVENT_GAP_NS (pp_event_gate). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} pp_events SEC(".maps");

/* Records: the keys of flows-map entries that changed, at most one per entry per change-log
 * epoch (pp_log_epoch): a CPU's full stage (pp_log_stage: PP_LOG_STAGE_SLOTS struct
 * pp_log_slot, 1792 B), or one key, 24 B (struct pp_flow4_map_key, an entry of pp_flows4) or
 * 48 B (struct pp_flow_map_key, pp_flows), from a program that ran nested in another on its
 * CPU. Drained by userspace at each refresh, which then looks up only these entries and those
 * still staged (docs/datapath.md, "The change log"). Sized by userspace from the flows maps'
 * size; nothing waits on it (no wake-ups). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} pp_changed SEC(".maps");

/* Key: 0 to PP_READ_BATCH - 1. Value: struct pp_read_entry, a key userspace asks
 * pp_read_logged to look up, and what it found. Mmapped by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PP_READ_BATCH);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct pp_read_entry);
} pp_read_batch SEC(".maps");

/* Key: 0. Value: struct pp_log_stage (per CPU), the change log's keys this CPU staged and not
 * yet wrote to pp_changed. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_log_stage);
} pp_log_stage SEC(".maps");

/* Key: 0. Value: __u64 (per CPU), when this CPU last emitted a pp_events record, on the
 * programs' clock. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pp_event_gate SEC(".maps");

/* Key: enum pp_counter. Value: count (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pp_counters SEC(".maps");

static __always_inline void pp_count_n(__u32 which, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&pp_counters, &which);

	if (v)
		*v += n;
}

static __always_inline void pp_count(__u32 which)
{
	pp_count_n(which, 1);
}

#endif /* PODPATH_MAPS_BPF_H */

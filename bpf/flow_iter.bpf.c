// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flow_iter: the flows maps' changed entries, read by userspace in one pass.
 *
 * Hook: a BPF map-element iterator (iter/bpf_map_elem, Linux 5.9+), attached by userspace once
 * per flows map (pp_flow_iter4 to pp_flows4, pp_flow_iter6 to pp_flows) and read through the fd
 * bpf_iter_create() returns. Per entry: skip it unless its last packet is at least
 * pp_iter_since_ns (the programs' clock, set by userspace before each read; 0 = every entry),
 * else write its key and value to the seq file as one record (pp_flow4_record /
 * pp_flow_record). A refresh then costs the kernel's walk plus the entries that changed: an
 * idle entry is never copied to userspace.
 *
 * pp_iter_visited counts every entry walked, written or not, so userspace notices entries that
 * left the map without being read (LRU eviction) by comparing it with what it holds.
 *
 * Reads of one object are serialised by userspace: the globals belong to the read running.
 * Nothing is counted or changed in the maps.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "podpath_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Entries whose last_seen_ns is older are skipped. Same clock as pp_flow_stats.last_seen_ns. */
__u64 pp_iter_since_ns = 0;
/* Entries walked by the read running (userspace resets it to 0 before each read). */
__u64 pp_iter_visited = 0;

/*
 * One program per map (the key types differ): for each entry, the record is built on the stack
 * and written in one call, so that a record that no longer fits the seq buffer is retried
 * whole in the next read(), never split. (A shared inline helper that copied key_size bytes
 * through a byte pointer was refused by the verifier on Linux 6.18: EACCES at load.)
 */
#define PP_FLOW_ITER(name, key_type, record_type)                                                  \
	SEC("iter/bpf_map_elem")                                                                   \
	int name(struct bpf_iter__bpf_map_elem *ctx)                                               \
	{                                                                                          \
		const key_type *key = ctx->key;                                                    \
		const struct pp_flow_stats *stats = ctx->value;                                    \
		record_type rec;                                                                   \
                                                                                                   \
		if (!key || !stats)                                                                \
			return 0; /* the last call, after the last entry */                        \
		pp_iter_visited++;                                                                 \
		if (stats->last_seen_ns < pp_iter_since_ns)                                        \
			return 0;                                                                  \
		rec.key = *key;                                                                    \
		rec.stats = *stats;                                                                \
		bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));                                  \
		return 0;                                                                          \
	}

PP_FLOW_ITER(pp_flow_iter4, struct pp_flow4_map_key, struct pp_flow4_record)
PP_FLOW_ITER(pp_flow_iter6, struct pp_flow_map_key, struct pp_flow_record)

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * foreign_tc: stands for another owner's TC filter (a CNI's, a firewall's) in the
 * integration tests. Hook: TC ingress. Counts every packet in foreign_count[0] and
 * passes it on (TC_ACT_UNSPEC), so tests can prove it keeps working next to podpath.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* Key: 0. Value: packets seen. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} foreign_count SEC(".maps");

SEC("tc")
int foreign_tc(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&foreign_count, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
	return -1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

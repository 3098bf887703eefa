// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * empty_cgroup_skb: the baseline for podpath_bench_cgroup. Hook: cgroup_skb ingress and
 * egress. Counts nothing, returns 1 (allow): what the hook and any cgroup_skb program
 * cost before the program does work.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("cgroup_skb/egress")
int pp_bench_cg_empty(struct __sk_buff *skb)
{
	return 1;
}

SEC("cgroup_skb/ingress")
int pp_bench_cg_empty_in(struct __sk_buff *skb)
{
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

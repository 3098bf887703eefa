// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * empty_tc: the baseline for scripts/bench. Hook: TC. Counts nothing, returns
 * TC_ACT_UNSPEC: what any TC program costs before it does work.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tc")
int pp_tc_bench_empty(struct __sk_buff *skb)
{
	return -1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

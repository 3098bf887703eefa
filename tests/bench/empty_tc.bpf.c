// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * empty_tc: the baselines for scripts/bench. Hook: TC. Counts nothing, returns
 * TC_ACT_UNSPEC: what any TC program costs before it does work.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tc")
int pp_tc_bench_empty(struct __sk_buff *skb)
{
	return -1;
}

/* The baseline of the new-flow cases: their program is loaded with its ports randomised per
 * run (pp_cfg_bench_unique), one bpf_get_prandom_u32 call that podpath never makes outside a
 * benchmark. A helper call costs from a few ns to over 10 where every return is mitigated
 * (AMD's Safe RET), so the new-flow cases are compared with an empty program that draws the
 * same random number. */
SEC("tc")
int pp_tc_bench_empty_random(struct __sk_buff *skb)
{
	bpf_get_prandom_u32();
	return -1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

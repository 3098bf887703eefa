/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The tick clock read from jiffies, for the programs' timestamps (first/last seen, back-offs).
 *
 * Tick resolution (ms) is plenty for those. The verifier inlines bpf_jiffies64 as one load,
 * where bpf_ktime_get_coarse_ns is a helper call: 3 ns per packet on an Intel VM, 15 on an AMD
 * one whose kernel mitigates every return (Safe RET) (docs/datapath.md). Jiffies count ticks
 * of CLOCK_MONOTONIC, so jiffies * tick length minus an offset measured once after loading
 * (pp_clock_sync, run by userspace with BPF_PROG_TEST_RUN) is CLOCK_MONOTONIC at tick
 * resolution, never ahead of it.
 */
#ifndef PODPATH_CLOCK_BPF_H
#define PODPATH_CLOCK_BPF_H

/* Nanoseconds per jiffy (TICK_NSEC), set by userspace between open and load; 0: the tick
 * length is unknown and the programs call a clock helper instead. */
const volatile __u64 pp_cfg_tick_ns = 0;

/* jiffies * pp_cfg_tick_ns minus CLOCK_MONOTONIC, set once by pp_clock_sync. */
__u64 pp_clock_offset_ns = 0;

static __always_inline __u64 pp_tick_clock(void)
{
	return bpf_jiffies64() * pp_cfg_tick_ns - pp_clock_offset_ns;
}

/*
 * The body of the sync program: ties the jiffies clock to CLOCK_MONOTONIC. One tick added to
 * the offset keeps pp_tick_clock() from running ahead of CLOCK_MONOTONIC, whatever the phase of
 * the tick when this runs. Objects that share this one's variables keep the offset the first
 * one set.
 */
static __always_inline void pp_clock_sync(void)
{
	__u64 jiffies = bpf_jiffies64();
	__u64 mono = bpf_ktime_get_ns();

	if (pp_clock_offset_ns == 0)
		pp_clock_offset_ns = jiffies * pp_cfg_tick_ns - mono + pp_cfg_tick_ns;
}

#endif /* PODPATH_CLOCK_BPF_H */

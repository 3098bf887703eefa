// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tc_flow: flow accounting on cbr0, the pod veths and the node uplink.
 *
 * Hook: TC ingress and egress (clsact or tcx), the same two programs on every
 * observed interface with Ethernet headers; pp_tc_l3_in/pp_tc_l3_eg on interfaces whose
 * packets start at the IP header (tun, WireGuard, IP tunnels). Per packet: parse to a flow key,
 * then account it in pp_flows4 (IPv4) or pp_flows (IPv6) under (observation point, flow key) and,
 * if the point counts the flow into the CIDR matrix, in pp_matrix. The first packet of a flow at a
 * point also classifies both addresses through the pp_cidrs trie (at matrix points) and wakes the
 * reader through the pp_events ring buffer (at most once per CPU per PP_EVENT_GAP_NS).
 *
 * At an egress point, the first packet of a flow whose connection conntrack translated
 * (kube-proxy's DNAT to a Service backend, masquerading) also records the translation in
 * pp_nat4: both conntrack tuples, read through skb->_nfct (pp_nat_record). Established
 * flows and untranslated ones pay nothing for it.
 *
 * Entries leave the flows maps when userspace expires idle flows (or by LRU eviction
 * if userspace chose LRU_HASH). Nothing is ever dropped or rewritten: every
 * path returns TC_ACT_UNSPEC (TCX_NEXT under tcx), so the next filter runs.
 *
 * Built twice: tc_flow reads the packet's network namespace from skb->dev
 * (bpf_cast_to_kern_ctx, Linux 6.3+); tc_flow_fixed (PP_NETNS_FIXED) takes it
 * from pp_cfg_netns_cookie, for kernels without that kfunc, loaded once per
 * namespace with the maps shared.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "podpath_abi.h"
#include "errno.bpf.h"
#include "maps.bpf.h"
#include "parse.bpf.h"
#include "clock.bpf.h"

#define TC_ACT_UNSPEC (-1)

/* After an insert failed because pp_flows is full, new flows wait this long before the
 * next attempt (unless userspace frees entries first): while the map stays full, every
 * packet of an untracked flow would otherwise redo the interface lookup, two LPM lookups
 * and a failing insert (docs/datapath.md). */
#define PP_FLOWS_FULL_BACKOFF_NS (100 * 1000 * 1000ULL)

/* Bytes the parser may need from the linear area before it pulls more in. */
#define PP_PARSE_WINDOW 128

/* Tunables: set by userspace between open and load. */
const volatile __u64 pp_cfg_netns_cookie = 0; /* tc_flow_fixed: this object's namespace */
const volatile __u8 pp_cfg_events = 1;	      /* wake the reader on new flows (pp_wake_reader) */
const volatile __u8 pp_cfg_debug = 0;	      /* bpf_printk on map errors */
const volatile __u8 pp_cfg_bench_unique = 0;  /* scripts/bench only: every packet a new flow */
const volatile __u8 pp_cfg_coarse_clock = 1;  /* tick resolution will do (pp_now) */
const volatile __u8 pp_cfg_nat = 0; /* record NAT translations: the kernel's BTF has struct nf_conn
				       and bpf_rdonly_cast (Linux 6.3+); never in tc_flow_fixed */
/* The kernel's BTF id of struct nf_conn, for bpf_rdonly_cast. Set by userspace: CO-RE's
 * bpf_core_type_id_kernel(struct nf_conn) is ambiguous, the kernel also has nf_conn___init,
 * which libbpf takes for a flavour of it. Field offsets are still CO-RE relocated (only
 * nf_conn has the fields). */
const volatile __u32 pp_cfg_nf_conn_btf_id = 0;
/* Tests only: spin this many rounds between finding a flow entry and counting in it, so that
 * a test can expire and reuse the entry meanwhile. Verified away when 0. */
const volatile __u32 pp_cfg_test_hold = 0;
#define PP_TEST_HOLD_MAX 20000 /* each round a helper call: ~10 ns */
/* Benchmarks only (podpath_bench_datapath --parts): leave out one part of the per-packet work
 * to measure what it costs (PP_BENCH_WITHOUT_*, podpath_abi.h). The counts are then wrong.
 * Verified away when 0. */
const volatile __u32 pp_cfg_bench_without = 0;
#define PP_WITHOUT(part) (pp_cfg_bench_without & (part))
/* Log changed entries' keys to pp_changed (pp_log_change). Off with an LRU flows map (the
 * kernel evicts silently: userspace walks the maps anyway). Verified away when 0. */
const volatile __u8 pp_cfg_change_log = 1;

/*
 * The change-log epoch: userspace increments it at the start of each refresh, through the
 * skeleton's mmapped .bss. tc_flow_fixed's objects share the first
 * object's .bss map, so every object sees the same epoch.
 */
volatile __u32 pp_log_epoch = 0;

#ifndef PP_NETNS_FIXED
extern void *bpf_cast_to_kern_ctx(void *) __ksym;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#endif

/* Low 32 bits of the cookie of the packet's network namespace (pp_obs_point.netns). */
static __always_inline __u32 pp_netns(struct __sk_buff *skb)
{
#ifdef PP_NETNS_FIXED
	return (__u32)pp_cfg_netns_cookie;
#else
	/*
	 * The device's namespace; bpf_get_netns_cookie(skb) would report the socket's.
	 * Plain loads through the trusted pointer (CO-RE relocated, exception-guarded
	 * PROBE_MEM loads), not BPF_CORE_READ: its three bpf_probe_read_kernel calls cost
	 * 20 to 78 ns per packet depending on the machine (docs/datapath.md).
	 */
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);

	return (__u32)kskb->dev->nd_net.net->net_cookie;
#endif
}

/*
 * The programs' clock, CLOCK_MONOTONIC in ns: first/last seen, the back-off and the wake-up
 * gap, at tick resolution from jiffies (clock.bpf.h). `podpath check` asks for the precise
 * clock (per-hop latency).
 */
static __always_inline __u64 pp_now(void)
{
	if (PP_WITHOUT(PP_BENCH_WITHOUT_CLOCK))
		return 1;
	if (!pp_cfg_coarse_clock)
		return bpf_ktime_get_ns();
	if (pp_cfg_tick_ns)
		return pp_tick_clock();
	return bpf_ktime_get_coarse_ns();
}

/* What one skb adds: a GSO/GRO super-packet counts as the wire packets it carries. */
struct pp_amount {
	__u64 packets;
	__u64 bytes;
};

static __always_inline struct pp_cidr_info pp_classify(const __u8 *addr)
{
	struct pp_cidr_key key = {.prefixlen = 128};
	struct pp_cidr_info none = {.id = PP_CIDR_OTHER};

	__builtin_memcpy(key.addr, addr, 16);
	struct pp_cidr_info *info = bpf_map_lookup_elem(&pp_cidrs, &key);
	if (!info) {
		pp_count(PP_CNT_LPM_MISS);
		return none;
	}
	return *info;
}

static __always_inline void pp_matrix_add(__u16 src, __u16 dst, struct pp_amount n)
{
	__u32 idx = (__u32)(src % PP_MAX_CIDRS) * PP_MAX_CIDRS + (dst % PP_MAX_CIDRS);
	struct pp_matrix_cell *cell = bpf_map_lookup_elem(&pp_matrix, &idx);

	if (cell) {
		cell->packets += n.packets;
		cell->bytes += n.bytes;
	}
}

static __always_inline void pp_stats_add(struct pp_flow_stats *st, struct pp_amount n,
					 __u8 tcp_flags, __u64 now)
{
	if (PP_WITHOUT(PP_BENCH_WITHOUT_ATOMICS)) {
		st->packets += n.packets;
		st->bytes += n.bytes;
	} else {
		__sync_fetch_and_add(&st->packets, n.packets);
		__sync_fetch_and_add(&st->bytes, n.bytes);
	}
	/*
	 * Plain stores, racy by design: any recent timestamp will do, and a flag
	 * lost to a concurrent writer is set again by its next packet. (An
	 * atomic OR would need Linux 5.12; the store is skipped when nothing is new.)
	 */
	if ((st->tcp_flags | tcp_flags) != st->tcp_flags)
		st->tcp_flags |= tcp_flags;
	st->last_seen_ns = now;
	if (st->flags & PP_FLOW_F_MATRIX)
		pp_matrix_add(st->src_cidr, st->dst_cidr, n);
}

/*
 * The change log. An entry's key goes to pp_changed when a packet finds the entry stamped
 * with another epoch than the current one: at most once per entry per refresh, so a refresh
 * looks up what changed instead of walking every entry. An existing flow already logged in
 * this epoch pays a load and a compare.
 *
 * Why no count is missed (userspace/bpf/datapath.cpp, docs/datapath.md): a packet is not
 * logged only if its entry already carries the current epoch, which some packet stored after
 * userspace's epoch store; that packet's key is drained in this refresh or the next, and
 * userspace looks up every key drained at the previous refresh once more (the carry) after
 * its next epoch store, so every packet counted after a lookup is read by the following
 * refresh. A packet that loaded the old epoch stores the old value, which never hides a later
 * packet. A record that does not fit is counted (PP_CNT_CHANGE_LOG_FULL): userspace then
 * walks the maps.
 */

/* One record to pp_changed: a key, or a whole stage of them. */
static __always_inline void pp_log_write(void *data, __u32 size)
{
	if (bpf_ringbuf_output(&pp_changed, data, size, BPF_RB_NO_WAKEUP))
		pp_count(PP_CNT_CHANGE_LOG_FULL);
}

/*
 * The key goes to a slot of this CPU's stage (pp_log_stage), which reaches pp_changed as one
 * record when full: one ring-buffer write per PP_LOG_STAGE_SLOTS keys. The slot is written
 * before `logged` counts it, so userspace, which reads every CPU's stage after draining the
 * ring, finds each key in the ring or in the stage (a slot it reads while it is rewritten
 * holds a key written to the ring before; the key being written is found by the next
 * refresh: in the stage, or in the ring if the stage filled meanwhile). A program that runs
 * nested in one that is staging (`busy`: an interrupt on this CPU) writes its key to the ring
 * itself; one that interrupts before `busy` is set finishes before the other goes on.
 */
static __always_inline void pp_log_key(const void *key, __u32 key_size)
{
	__u32 zero = 0;
	struct pp_log_stage *stage = bpf_map_lookup_elem(&pp_log_stage, &zero);

	if (!stage || *(volatile __u32 *)&stage->busy) {
		pp_log_write((void *)key, key_size);
		return;
	}
	*(volatile __u32 *)&stage->busy = 1;
	__u64 n = *(volatile __u64 *)&stage->logged;
	__u32 i = n % PP_LOG_STAGE_SLOTS;
	if (i == 0 && n != 0)
		pp_log_write(stage->slot, sizeof(stage->slot));
	struct pp_log_slot *slot = &stage->slot[i];
	slot->size = key_size;
	if (key_size == sizeof(struct pp_flow4_map_key))
		__builtin_memcpy(slot->key, key, sizeof(struct pp_flow4_map_key));
	else
		__builtin_memcpy(slot->key, key, sizeof(struct pp_flow_map_key));
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&stage->logged = n + 1;
	*(volatile __u32 *)&stage->busy = 0;
}

/*
 * Logs the entry's key once per epoch. Called after counting: a lookup that follows the drain
 * of this record sees this packet's counts.
 */
static __always_inline void pp_log_change(struct pp_flow_stats *st, const void *key, __u32 key_size)
{
	if (!pp_cfg_change_log)
		return;
	__u32 epoch = pp_log_epoch;
	if (st->log_epoch == epoch)
		return;
	st->log_epoch = epoch;
	pp_log_key(key, key_size);
}

/*
 * Role of the interface if this point may count into the CIDR matrix (an ingress
 * of a pod veth or an uplink), else PP_ROLE_OTHER. Only such points classify
 * addresses: the LPM lookups are the dearest part of a new flow.
 */
static __always_inline __u32 pp_matrix_role(const struct pp_obs_point *point)
{
	if (PP_POINT_DIRECTION(point->if_dir) != PP_DIR_INGRESS)
		return PP_ROLE_OTHER;
	struct pp_iface_key ik = {.netns = point->netns,
				  .ifindex = PP_POINT_IFINDEX(point->if_dir)};
	struct pp_iface_info *iface = bpf_map_lookup_elem(&pp_ifaces, &ik);
	if (!iface || (iface->role != PP_ROLE_POD && iface->role != PP_ROLE_UPLINK))
		return PP_ROLE_OTHER;
	return iface->role;
}

/* The back-off slot; NULL only if the map is missing (never once loaded). */
static __always_inline __u64 *pp_flows_full_until(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pp_flows_full, &zero);
}

static __always_inline void pp_count_insert_error(long err, __u64 now)
{
	if (err == -PP_E2BIG || err == -PP_ENOMEM) {
		pp_count(PP_CNT_FLOW_INSERT_FULL);
		__u64 *until = pp_flows_full_until();
		if (until)
			*until = now + PP_FLOWS_FULL_BACKOFF_NS;
	} else if (err == -PP_EBUSY)
		pp_count(PP_CNT_FLOW_INSERT_BUSY);
	else
		pp_count(PP_CNT_FLOW_INSERT_OTHER);
	if (pp_cfg_debug)
		bpf_printk("podpath: flow insert failed: %ld", err);
}

/*
 * A flow was first seen: wake the reader, which then refreshes early (it reads what is new
 * from the flows maps, never from the record). At most one record per CPU per
 * PP_EVENT_GAP_NS: a burst of new flows costs one ring-buffer reserve and submit (~100 ns
 * each), the others one per-CPU array read. A CPU's first flow after a quiet gap always
 * emits, so the reader still hears of new flows within the gap.
 */
static __always_inline void pp_wake_reader(__u64 now)
{
	__u32 zero = 0;

	if (!pp_cfg_events)
		return;
	__u64 *last = bpf_map_lookup_elem(&pp_event_gate, &zero);
	if (!last || now - *last < PP_EVENT_GAP_NS)
		return;
	*last = now;
	struct pp_flow_event *ev = bpf_ringbuf_reserve(&pp_events, sizeof(*ev), 0);
	if (!ev) {
		pp_count(PP_CNT_RINGBUF_FULL);
		return;
	}
	ev->ts_ns = now;
	/* Flags 0: the kernel wakes the reader only if it had caught up, so wake-ups
	 * batch themselves under load (forcing or suppressing them measured worse). */
	bpf_ringbuf_submit(ev, 0);
}

/*
 * The first packet of a flow at a point: insert its entry into `flows` (pp_flows4 or
 * pp_flows) under `key`. `point` and `p->key` describe it for classification.
 */
static __always_inline int pp_new_flow(void *flows, const void *key, __u32 key_size, __u16 tag,
				       const struct pp_obs_point *point, const struct pp_parsed *p,
				       struct pp_amount n, __u64 now)
{
	__u64 *full_until = pp_flows_full_until();
	if (full_until && now < *full_until) {
		/* The map was full moments ago: count the flow as lost without retrying. */
		pp_count(PP_CNT_FLOW_INSERT_FULL);
		return 0;
	}
	struct pp_cidr_info src = {.id = PP_CIDR_UNCLASSIFIED};
	struct pp_cidr_info dst = {.id = PP_CIDR_UNCLASSIFIED};
	__u32 role = pp_matrix_role(point);
	int matrix = 0;

	if (role != PP_ROLE_OTHER) {
		src = pp_classify(p->key.saddr);
		dst = pp_classify(p->key.daddr);
		matrix = role == PP_ROLE_POD || !(src.flags & PP_CIDR_F_COUNTED_AT_SOURCE);
	}
	struct pp_flow_stats st = {
		.packets = n.packets,
		.bytes = n.bytes,
		.first_seen_ns = now,
		.last_seen_ns = now,
		.tcp_flags = (__u8)p->tcp_flags,
		.src_cidr = (__u16)src.id,
		.dst_cidr = (__u16)dst.id,
		.flags = matrix ? PP_FLOW_F_MATRIX : 0,
		.log_epoch = pp_log_epoch,
	};

	st.key_tag = tag;
	long err = bpf_map_update_elem(flows, key, &st, BPF_NOEXIST);
	if (err == -PP_EEXIST) {
		/* Another CPU inserted it first: account there. */
		struct pp_flow_stats *cur = bpf_map_lookup_elem(flows, key);
		if (cur) {
			pp_stats_add(cur, n, (__u8)p->tcp_flags, now);
			pp_log_change(cur, key, key_size);
		} else
			pp_count(PP_CNT_FLOW_RACE);
		return 0;
	}
	if (err) {
		pp_count_insert_error(err, now);
		return 0;
	}
	/* A new entry is a change: logged in the epoch it was created with. */
	if (pp_cfg_change_log)
		pp_log_key(key, key_size);
	pp_count(PP_CNT_NEW_FLOWS);
	if (st.flags & PP_FLOW_F_MATRIX)
		pp_matrix_add(st.src_cidr, st.dst_cidr, n);

	pp_wake_reader(now);
	return 1;
}

/*
 * The IPv4 map key is written as three 64-bit words. The kernel hashes and compares a
 * key with 32- and 64-bit loads, and a load that spans several narrower stores cannot
 * take its bytes from the store buffer: it waits for them (a store-forwarding stall).
 * Built field by field, the 24-byte key was no faster than the 48-byte one; built in
 * words, it saves 10 ns per packet (docs/datapath.md). The word layout is that of struct
 * pp_flow4_map_key on a little-endian CPU.
 */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tc_flow builds the IPv4 map key as little-endian words"
#endif
union pp_key4 {
	struct pp_flow4_map_key key;
	__u64 w[3];
};

/* The key's last word: ports, protocol, flags, zero padding. */
static __always_inline __u64 pp_ports_word(const struct pp_flow_key *k)
{
	return (__u64)k->flags << 40 | (__u64)k->proto << 32 | (__u64)k->dport << 16 | k->sport;
}

/* Mixes one 64-bit word of a key into a tag hash: order-sensitive, so that the reverse
 * flow (addresses and ports swapped) gets another tag. */
static __always_inline __u64 pp_tag_mix(__u64 h, __u64 w)
{
	return (h ^ w) * 0x9e3779b97f4a7c15ULL;
}

/* The 16-bit key tag (pp_flow_stats.key_tag) from a tag hash. */
static __always_inline __u16 pp_key_tag(__u64 h)
{
	return (__u16)(h >> 48);
}

/*
 * Counts a packet in its flow's entry of `flows`, creating the entry if needed.
 *
 * An entry found here may be deleted by userspace's expiry and, its memory going straight
 * back to the map's free list, reused for another flow by an insert on another CPU before
 * this program has counted in it: preallocated and BPF_F_NO_PREALLOC hashes alike reuse
 * freed elements without waiting for readers (since Linux 6.1 both go through free lists).
 * The entry's key tag says whose it is: checked before counting (a mismatch: the packet's
 * own entry is gone, so it gets a new one) and after (the reuse happened while counting:
 * counted in flow_recycled, never silent). Costs ~1 ns per packet (docs/datapath.md).
 * Returns 1 when this packet created the flow's entry.
 */
static __always_inline int pp_account(void *flows, const void *key, __u32 key_size, __u16 tag,
				      const struct pp_obs_point *point, const struct pp_parsed *p,
				      struct pp_amount n, __u64 now)
{
	struct pp_flow_stats *st = bpf_map_lookup_elem(flows, key);
	if (st) {
		for (__u32 i = 0; i < pp_cfg_test_hold && i < PP_TEST_HOLD_MAX; i++)
			bpf_get_prandom_u32();
		if (PP_WITHOUT(PP_BENCH_WITHOUT_TAG)) {
			pp_stats_add(st, n, (__u8)p->tcp_flags, now);
			pp_log_change(st, key, key_size);
			return 0;
		}
		if (st->key_tag == tag) {
			pp_stats_add(st, n, (__u8)p->tcp_flags, now);
			pp_log_change(st, key, key_size);
			if (*(volatile __u16 *)&st->key_tag != tag)
				pp_count(PP_CNT_FLOW_RECYCLED);
			return 0;
		}
		pp_count(PP_CNT_FLOW_RECYCLED);
	}
	return pp_new_flow(flows, key, key_size, tag, point, p, n, now);
}

#ifndef PP_NETNS_FIXED
#define PP_AF_INET	2
#define PP_NFCT_PTRMASK (~7UL) /* skb->_nfct: struct nf_conn * | enum ip_conntrack_info */

/* A conntrack port (network order) as a flow key holds it; ICMP: echo id, type << 8 | code. */
static __always_inline __u16 pp_ct_sport(const struct nf_conntrack_tuple *t)
{
	return bpf_ntohs(t->src.u.all);
}

static __always_inline __u16 pp_ct_dport(const struct nf_conntrack_tuple *t, __u8 proto)
{
	if (proto == IPPROTO_ICMP)
		return (__u16)t->dst.u.icmp.type << 8 | t->dst.u.icmp.code;
	return bpf_ntohs(t->dst.u.all);
}

/*
 * The packet's connection, if conntrack translated it: record both tuples in pp_nat4 (once
 * per connection and namespace). Called for the first packet of an IPv4 flow at an egress
 * point only: there the packet has passed netfilter's NAT hooks and skb->_nfct holds its
 * conntrack entry (at TC ingress conntrack has not run yet). The entry is read through
 * bpf_rdonly_cast: plain, exception-guarded loads instead of a bpf_probe_read_kernel each.
 */
static __always_inline void pp_nat_record(struct __sk_buff *skb, const struct pp_obs_point *point,
					  __u64 now)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	unsigned long nfct = kskb->_nfct & PP_NFCT_PTRMASK;
	if (!nfct)
		return;
	struct nf_conn *ct = bpf_rdonly_cast((void *)nfct, pp_cfg_nf_conn_btf_id);
	__u32 nat = 0;
	unsigned long status = ct->status;
	if (status & IPS_DST_NAT)
		nat |= PP_NAT_F_DST;
	if (status & IPS_SRC_NAT)
		nat |= PP_NAT_F_SRC;
	if (!nat)
		return;
	const struct nf_conntrack_tuple *o = &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
	const struct nf_conntrack_tuple *r = &ct->tuplehash[IP_CT_DIR_REPLY].tuple;
	if (o->src.l3num != PP_AF_INET)
		return;
	__u8 proto = o->dst.protonum;
	struct pp_nat4_key key = {.netns = point->netns,
				  .sport = pp_ct_sport(o),
				  .dport = pp_ct_dport(o, proto),
				  .proto = proto};
	__u32 a = o->src.u3.ip;
	__builtin_memcpy(key.saddr, &a, 4);
	a = o->dst.u3.ip;
	__builtin_memcpy(key.daddr, &a, 4);
	struct pp_nat4_value val = {.reply_sport = pp_ct_sport(r),
				    .reply_dport = pp_ct_dport(r, proto),
				    .status = nat,
				    .if_dir = point->if_dir,
				    .first_seen_ns = now};
	a = r->src.u3.ip;
	__builtin_memcpy(val.reply_saddr, &a, 4);
	a = r->dst.u3.ip;
	__builtin_memcpy(val.reply_daddr, &a, 4);
	long err = bpf_map_update_elem(&pp_nat4, &key, &val, BPF_NOEXIST);
	if (err == 0)
		pp_count(PP_CNT_NAT_RECORDED);
	else if (err != -PP_EEXIST)
		pp_count(PP_CNT_NAT_INSERT_FAIL);
}
#endif

/*
 * `l3`: the interface has no link-layer header (tun, WireGuard, IP-in-IP, ...): packets
 * start at the IP header and skb->protocol says which IP. A constant per program, so the
 * Ethernet programs carry no per-packet branch for it.
 */
static __always_inline int pp_handle(struct __sk_buff *skb, __u32 direction, int l3)
{
	/* A TSO/GSO (egress) or GRO (ingress) skb carries gso_segs wire packets; else 0 or 1. */
	__u32 segs = skb->gso_segs;
	if (segs < 1)
		segs = 1;
	if (!PP_WITHOUT(PP_BENCH_WITHOUT_PACKETS))
		pp_count_n(PP_CNT_PACKETS, segs);

	/* Headers normally sit in the linear area; pull them in when they do not. */
	__u32 want = skb->len < PP_PARSE_WINDOW ? skb->len : PP_PARSE_WINDOW;
	if ((__u64)skb->data_end - (__u64)skb->data < want) {
		if (bpf_skb_pull_data(skb, want) == 0)
			pp_count(PP_CNT_PULLED);
	}

	const __u8 *data = (const __u8 *)(long)skb->data;
	const __u8 *data_end = (const __u8 *)(long)skb->data_end;
	struct pp_parsed p = {};
	int err = l3 ? pp_parse_l3(data, data_end, bpf_ntohs((__u16)skb->protocol), &p)
		     : pp_parse(data, data_end, &p);
	if (err) {
		pp_count(err);
		return TC_ACT_UNSPEC;
	}
	if (p.key.flags & PP_KEY_F_FRAGMENT)
		pp_count(PP_CNT_FRAGMENTS);
	if (pp_cfg_bench_unique) {
		/* Lets BPF_PROG_TEST_RUN's repeat loop measure warm new-flow inserts. */
		__u32 r = bpf_get_prandom_u32();
		p.key.sport ^= (__u16)r;
		p.key.dport ^= (__u16)(r >> 16);
	}

	struct pp_obs_point point = {.netns =
					     PP_WITHOUT(PP_BENCH_WITHOUT_NETNS) ? 1 : pp_netns(skb),
				     .if_dir = PP_POINT_IF_DIR(skb->ifindex, direction)};
	struct pp_amount n = {.packets = 1, .bytes = skb->len};
	if (segs > 1) {
		/* Each wire packet repeats the headers: count the bytes the wire carries. */
		pp_count(PP_CNT_GSO);
		n.packets = segs;
		n.bytes += (__u64)(segs - 1) * pp_gso_header_bytes(data, data_end, &p);
	}
	__u64 now = pp_now();

	/* The last 32 bits of each address, the point, the ports: the IPv4 key's words, and
	 * the tag of both keys (the upper bits of IPv6 addresses would make the tag dearer
	 * for a negligible gain: a reused entry must also share the point, ports and
	 * address ends to go unnoticed). */
	const __u32 *sa = (const __u32 *)p.key.saddr;
	const __u32 *da = (const __u32 *)p.key.daddr;
	union pp_key4 k4 = {.w = {(__u64)point.if_dir << 32 | point.netns,
				  (__u64)da[3] << 32 | sa[3], pp_ports_word(&p.key)}};
	__u16 tag = PP_WITHOUT(PP_BENCH_WITHOUT_TAG)
			    ? 0
			    : pp_key_tag(pp_tag_mix(pp_tag_mix(k4.w[0], k4.w[1]), k4.w[2]));
	if (p.key.flags & PP_KEY_F_IPV6) {
		/* (Built in words like the IPv4 key, it measured 2-4 ns slower.) */
		struct pp_flow_map_key mk = {.point = point, .flow = p.key};
		pp_account(&pp_flows, &mk, sizeof(mk), tag, &point, &p, n, now);
	} else {
#ifdef PP_NETNS_FIXED
		pp_account(&pp_flows4, &k4, sizeof(k4), tag, &point, &p, n, now);
#else
		int created = pp_account(&pp_flows4, &k4, sizeof(k4), tag, &point, &p, n, now);
		if (pp_cfg_nat && created && direction == PP_DIR_EGRESS)
			pp_nat_record(skb, &point, now);
#endif
	}
	return TC_ACT_UNSPEC;
}

/*
 * The keys a refresh looks up, in one call (struct pp_read_args, podpath_abi.h): for each of
 * the first `count` entries of pp_read_batch, the value of its key in pp_flows4 or pp_flows.
 * Run by userspace through BPF_PROG_TEST_RUN; loaded only where the kernel has syscall
 * programs and bpf_loop (Linux 5.17+): elsewhere userspace looks each key up itself.
 */
struct pp_read_loop {
	__u32 ipv4;
};

static long pp_read_one(__u32 i, struct pp_read_loop *loop)
{
	__u32 at = i;
	struct pp_read_entry *e = bpf_map_lookup_elem(&pp_read_batch, &at);
	if (!e)
		return 1;
	struct pp_flow_stats *st = loop->ipv4 ? bpf_map_lookup_elem(&pp_flows4, &e->key)
					      : bpf_map_lookup_elem(&pp_flows, &e->key);
	if (st)
		e->stats = *st;
	e->found = st != NULL;
	return 0;
}

SEC("syscall")
int pp_read_logged(struct pp_read_args *args)
{
	struct pp_read_loop loop = {.ipv4 = args->ipv4};
	__u32 count = args->count;

	if (count > PP_READ_BATCH)
		count = PP_READ_BATCH;
	bpf_loop(count, pp_read_one, &loop, 0);
	return 0;
}

SEC("tc")
int pp_tc_ingress(struct __sk_buff *skb)
{
	return pp_handle(skb, PP_DIR_INGRESS, 0);
}

SEC("tc")
int pp_tc_egress(struct __sk_buff *skb)
{
	return pp_handle(skb, PP_DIR_EGRESS, 0);
}

/* The same for interfaces without a link-layer header (userspace picks by link type). */
SEC("tc")
int pp_tc_l3_in(struct __sk_buff *skb)
{
	return pp_handle(skb, PP_DIR_INGRESS, 1);
}

SEC("tc")
int pp_tc_l3_eg(struct __sk_buff *skb)
{
	return pp_handle(skb, PP_DIR_EGRESS, 1);
}

/* Not attached: userspace runs it once after loading (BPF_PROG_TEST_RUN), see clock.bpf.h. */
SEC("tc")
int pp_tc_clock_sync(struct __sk_buff *skb)
{
	pp_clock_sync();
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

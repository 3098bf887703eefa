// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgroup_flow: traffic per container, attributed by cgroup v2 id.
 *
 * Hook: cgroup_skb ingress and egress, attached once (bpf_link, multi-attach) at an
 * ancestor cgroup of the containers: the lab's cgroup_root, a node's kubepods cgroup or
 * the cgroup root. The kernel runs them for every IPv4/IPv6 packet a socket of that
 * subtree sends (ip_finish_output, before GSO segmentation) or is delivered (sk_filter,
 * once the socket is known): exactly the containers' own traffic, inside whatever network
 * namespace their sockets live in, and nothing that is merely forwarded.
 *
 * Per packet: parse from the IP header (cgroup_skb sees no L2 header), key by (the
 * socket's cgroup id, the socket's network-namespace cookie, local/remote address and
 * port, protocol) and add to the tx (egress) or rx (ingress) counters. The cgroup is the
 * socket's (bpf_skb_cgroup_id), never the current task's: ingress runs in softirq on
 * behalf of whichever task was interrupted, and egress also runs for packets the kernel
 * sends later on a socket's behalf (retransmits, delayed ACKs).
 *
 * Entries leave pp_cg_flows only when userspace deletes them. Both programs always
 * return 1 (allow): attribution never changes what the network does, and other programs
 * attached to the same cgroups keep deciding as before.
 *
 * Built twice: cgroup_flow may read the namespace and the cgroup id through
 * bpf_cast_to_kern_ctx (a kfunc, Linux 6.3+) with plain loads; cgroup_flow_compat (PP_CG_NO_KFUNC)
 * has no kfunc reference, so that it loads on kernels without it and calls helpers for both.
 * pp_cfg_cg_netns picks the method at load time; the verifier drops the others as dead code.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "podpath_abi.h"
#include "errno.bpf.h"
#include "parse.bpf.h"
#include "cgroup_maps.bpf.h"
#include "clock.bpf.h"

#define PP_CG_ALLOW 1

/* Tunables: set by userspace between open and load. */
const volatile __u8 pp_cfg_cg_netns = PP_CG_NETNS_NONE; /* enum pp_cg_netns_mode */
const volatile __u8 pp_cfg_cg_coarse_clock = 1;		/* tick resolution will do (pp_cg_now) */
const volatile __u8 pp_cfg_cg_debug = 0;		/* bpf_printk on map errors */
const volatile __u8 pp_cfg_cg_bench_unique = 0; /* benchmarks only: every packet a new entry */

#ifndef PP_CG_NO_KFUNC
extern void *bpf_cast_to_kern_ctx(void *) __ksym;
#endif

/* Before Linux 5.12 struct net kept its cookie in an atomic64_t (generated lazily). */
struct net___atomic_cookie {
	atomic64_t net_cookie;
} __attribute__((preserve_access_index));

/* The cookie of a namespace reached through BTF pointers (loads the verifier guards). */
static __always_inline __u64 pp_cg_net_cookie(struct net *net)
{
	if (!net)
		return 0;
	if (bpf_core_field_exists(((struct net___atomic_cookie *)net)->net_cookie))
		return (__u64)((struct net___atomic_cookie *)net)->net_cookie.counter;
	return net->net_cookie;
}

#ifndef PP_CG_NO_KFUNC
/* The socket the hook runs for: cgroup_skb hooks run only for full sockets, and the kernel
 * points skb->sk at it for the run. */
static __always_inline struct sock *pp_cg_sock(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);

	return kskb->sk;
}
#endif

/* The cookie of the network namespace of the packet's socket, or 0 if unknown. */
static __always_inline __u64 pp_cg_netns(struct __sk_buff *skb)
{
	if (pp_cfg_cg_netns == PP_CG_NETNS_HELPER)
		return bpf_get_netns_cookie(skb);
#ifndef PP_CG_NO_KFUNC
	if (pp_cfg_cg_netns == PP_CG_NETNS_KERN_CTX) {
		struct sock *sk = pp_cg_sock(skb);

		if (!sk)
			return 0;
		return pp_cg_net_cookie(sk->__sk_common.skc_net.net);
	}
#endif
	if (pp_cfg_cg_netns == PP_CG_NETNS_SOCK_CAST) {
		struct bpf_sock *sk = skb->sk;

		if (!sk)
			return 0;
		/* Only TCP and UDPv6 sockets have a typed cast; the rest stays unknown. */
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
		if (tp)
			return pp_cg_net_cookie(tp->inet_conn.icsk_inet.sk.__sk_common.skc_net.net);
		struct udp6_sock *u6 = bpf_skc_to_udp6_sock(sk);
		if (u6)
			return pp_cg_net_cookie(u6->udp.inet.sk.__sk_common.skc_net.net);
	}
	return 0;
}

/*
 * The id of the socket's cgroup v2, as bpf_skb_cgroup_id() reports it. With the kernel
 * context (Linux 6.3+) it is read with plain loads, sock_cgroup_ptr() and cgroup_id() by
 * hand: the helper's call cost 15-20 ns per packet on a kernel that mitigates every return.
 */
static __always_inline __u64 pp_cg_cgroup_id(struct __sk_buff *skb)
{
#ifndef PP_CG_NO_KFUNC
	if (pp_cfg_cg_netns == PP_CG_NETNS_KERN_CTX &&
	    bpf_core_field_exists(((struct sock *)0)->sk_cgrp_data.cgroup)) {
		struct sock *sk = pp_cg_sock(skb);

		if (!sk)
			return 0;
		struct cgroup *cgrp = sk->sk_cgrp_data.cgroup;
		if (!cgrp)
			return 0;
		struct kernfs_node *kn = cgrp->kn;
		return kn ? kn->id : 0;
	}
#endif
	return bpf_skb_cgroup_id(skb);
}

/* The programs' clock, CLOCK_MONOTONIC in ns at tick resolution (clock.bpf.h). */
static __always_inline __u64 pp_cg_now(void)
{
	if (!pp_cfg_cg_coarse_clock)
		return bpf_ktime_get_ns();
	if (pp_cfg_tick_ns)
		return pp_tick_clock();
	return bpf_ktime_get_coarse_ns();
}

static __always_inline void pp_cg_add(struct pp_cg_flow_stats *st, int egress, __u64 packets,
				      __u64 bytes, __u64 now)
{
	if (egress) {
		__sync_fetch_and_add(&st->tx_packets, packets);
		__sync_fetch_and_add(&st->tx_bytes, bytes);
	} else {
		__sync_fetch_and_add(&st->rx_packets, packets);
		__sync_fetch_and_add(&st->rx_bytes, bytes);
	}
	/* Racy by design: any recent time will do. */
	st->last_seen_ns = now;
}

static __always_inline void pp_cg_insert_error(long err)
{
	if (err == -PP_E2BIG || err == -PP_ENOMEM)
		pp_cg_count(PP_CG_CNT_INSERT_FULL);
	else if (err == -PP_EBUSY)
		pp_cg_count(PP_CG_CNT_INSERT_BUSY);
	else
		pp_cg_count(PP_CG_CNT_INSERT_OTHER);
	if (pp_cfg_cg_debug)
		bpf_printk("podpath: container flow insert failed: %ld", err);
}

/* Phase 1: parse the headers. 0 when the packet is IP and parsed; otherwise counted and
 * not worth a flow entry. */
static __always_inline int pp_cg_parse(struct __sk_buff *skb, const __u8 *data,
				       const __u8 *data_end, struct pp_parsed *p)
{
	int err = pp_parse_l3(data, data_end, bpf_ntohs((__u16)skb->protocol), p);
	if (err == PP_CNT_NON_IP) {
		pp_cg_count(PP_CG_CNT_NON_IP);
		return err;
	}
	if (err) {
		pp_cg_count(PP_CG_CNT_PARSE_ERR);
		pp_cg_count_parse_error((__u32)err);
		return err;
	}
	if (p->key.flags & PP_KEY_F_FRAGMENT)
		pp_cg_count(PP_CG_CNT_FRAGMENTS);
	return 0;
}

/* Phase 2: the flow key, from the socket's side: local and remote, whatever the
 * direction. */
static __always_inline void pp_cg_key_of(struct __sk_buff *skb, const struct pp_parsed *p,
					 int egress, struct pp_cg_flow_key *key)
{
	key->cgroup_id = pp_cg_cgroup_id(skb);
	key->netns_cookie = pp_cg_netns(skb);
	key->proto = p->key.proto;
	key->flags = p->key.flags;
	if (key->cgroup_id == 0)
		pp_cg_count(PP_CG_CNT_NO_CGROUP);
	if (key->netns_cookie == 0 && pp_cfg_cg_netns != PP_CG_NETNS_NONE)
		pp_cg_count(PP_CG_CNT_NETNS_UNKNOWN);
	if (egress) {
		__builtin_memcpy(key->laddr, p->key.saddr, 16);
		__builtin_memcpy(key->raddr, p->key.daddr, 16);
		key->lport = p->key.sport;
		key->rport = p->key.dport;
	} else {
		__builtin_memcpy(key->laddr, p->key.daddr, 16);
		__builtin_memcpy(key->raddr, p->key.saddr, 16);
		key->lport = p->key.dport;
		key->rport = p->key.sport;
	}
	if (p->key.proto == PP_IPPROTO_ICMP || p->key.proto == PP_IPPROTO_ICMPV6) {
		/* Request and reply of one echo share an entry: the identifier is the
		 * socket's "port" in both directions; type/code are not kept. */
		key->lport = p->key.sport;
		key->rport = 0;
	}
	if (pp_cfg_cg_bench_unique) {
		/* Lets BPF_PROG_TEST_RUN's repeat loop measure warm inserts. */
		__u32 r = bpf_get_prandom_u32();
		key->lport ^= (__u16)r;
		key->rport ^= (__u16)(r >> 16);
	}
}

/* Phase 3: what the packet was on the wire: a GSO super-packet counts its segments and
 * the headers each one repeats. */
static __always_inline void pp_cg_wire_size(struct __sk_buff *skb, const __u8 *data,
					    const __u8 *data_end, const struct pp_parsed *p,
					    __u64 *packets, __u64 *bytes)
{
	__u32 segs = skb->gso_segs;

	*packets = 1;
	*bytes = skb->len;
	if (segs > 1) {
		pp_cg_count(PP_CG_CNT_GSO);
		*packets = segs;
		*bytes += (__u64)(segs - 1) * pp_gso_header_bytes(data, data_end, p);
	}
}

/* Phase 4: add to the flow's entry, or insert it. */
static __always_inline void pp_cg_account(const struct pp_cg_flow_key *key, int egress,
					  __u64 packets, __u64 bytes)
{
	__u64 now = pp_cg_now();
	struct pp_cg_flow_stats *st = bpf_map_lookup_elem(&pp_cg_flows, key);

	if (st) {
		pp_cg_add(st, egress, packets, bytes, now);
		return;
	}
	struct pp_cg_flow_stats init = {
		.tx_packets = egress ? packets : 0,
		.tx_bytes = egress ? bytes : 0,
		.rx_packets = egress ? 0 : packets,
		.rx_bytes = egress ? 0 : bytes,
		.first_seen_ns = now,
		.last_seen_ns = now,
	};
	long uerr = bpf_map_update_elem(&pp_cg_flows, key, &init, BPF_NOEXIST);
	if (uerr == -PP_EEXIST) {
		/* Another CPU inserted it first: account there. */
		st = bpf_map_lookup_elem(&pp_cg_flows, key);
		if (st)
			pp_cg_add(st, egress, packets, bytes, now);
		else
			pp_cg_count(PP_CG_CNT_INSERT_RACE);
	} else if (uerr) {
		pp_cg_insert_error(uerr);
	} else {
		pp_cg_count(PP_CG_CNT_NEW_ENTRIES);
	}
}

static __always_inline int pp_cg_handle(struct __sk_buff *skb, int egress)
{
	pp_cg_count(PP_CG_CNT_PACKETS);

	/* Locally built and socket-delivered packets have their headers in the linear
	 * area (the stack pulled them); cgroup_skb may not pull, so a miss is counted. */
	const __u8 *data = (const __u8 *)(long)skb->data;
	const __u8 *data_end = (const __u8 *)(long)skb->data_end;
	struct pp_parsed p = {};
	if (pp_cg_parse(skb, data, data_end, &p))
		return PP_CG_ALLOW;

	struct pp_cg_flow_key key = {};
	pp_cg_key_of(skb, &p, egress, &key);
	__u64 packets, bytes;
	pp_cg_wire_size(skb, data, data_end, &p, &packets, &bytes);
	pp_cg_account(&key, egress, packets, bytes);
	return PP_CG_ALLOW;
}

SEC("cgroup_skb/ingress")
int pp_cg_ingress(struct __sk_buff *skb)
{
	return pp_cg_handle(skb, 0);
}

SEC("cgroup_skb/egress")
int pp_cg_egress(struct __sk_buff *skb)
{
	return pp_cg_handle(skb, 1);
}

/* Not attached: userspace runs it once after loading (BPF_PROG_TEST_RUN), see clock.bpf.h. */
SEC("cgroup_skb/egress")
int pp_cg_clock_sync(struct __sk_buff *skb)
{
	pp_clock_sync();
	return PP_CG_ALLOW;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

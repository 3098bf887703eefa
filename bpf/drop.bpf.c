// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * drop: packets of tracked CIDRs that the kernel drops, with its reason and location.
 *
 * Hook: the skb:kfree_skb tracepoint as a BTF-typed raw tracepoint (tp_btf), which the
 * kernel fires when it frees a packet as dropped; normal consumption goes through
 * consume_skb (or kfree_skb_reason(SKB_CONSUMED)) and its own tracepoint, which podpath
 * leaves alone. So the program runs only for drops: nothing is spent on packets that are
 * delivered or forwarded.
 *
 * Per drop: read the IP header behind skb->network_header, build the same flow key as
 * tc_flow (plus IP id, TCP/ICMP sequence number), keep it if either address lies in a
 * CIDR of pp_drop_cidrs (filled by userspace: pod CIDRs, underlay), and emit a
 * pp_drop_event with the reason, the location (a kernel text address userspace
 * symbolises through /proc/kallsyms), the device's namespace cookie and name. Nothing is
 * kept in maps: events leave through the ring buffer, lost ones are counted.
 *
 * Two programs, one loaded: pp_kfree_skb reads the reason argument (Linux 5.17+);
 * pp_kfree_skb_noreason reads the skb and the location only, for older kernels, whose
 * tracepoint has no reason (the verifier rejects reading an argument that does not exist).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "podpath_abi.h"
#include "parse.bpf.h"

#define PP_NH_UNSET	 ((__u16)~0U) /* skb->network_header when no header was set */
#define PP_DROP_L4_BYTES 16 /* L4 header bytes read: ports, TCP sequence number and flags */

/* Tunables: set by userspace between open and load. */
const volatile __u8 pp_cfg_drop_skip_unspecified = 0; /* ignore reason NOT_SPECIFIED */
const volatile __u8 pp_cfg_drop_skip_local = 1;	      /* ignore copies local sockets declined */
const volatile __u8 pp_cfg_drop_track_all = 0; /* record every IP drop, whatever its addresses */
/* Wake the reader only once this much is waiting (bytes): a reader that polls on a timer
 * (podpath check does) needs no wake-up per drop, and under a drop storm the wake-ups
 * (irq_work per event) cost more than the record itself (docs/check.md). */
const volatile __u32 pp_cfg_drop_wakeup_bytes = 64 * 1024;

/* Key: struct pp_cidr_key (prefix). Value: __u32 CIDR id. Filled by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pp_cidr_key);
	__type(value, __u32);
} pp_drop_cidrs SEC(".maps");

/* Records: struct pp_drop_event, one per dropped packet of a tracked CIDR. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} pp_drop_events SEC(".maps");

/* Key: enum pp_drop_counter. Value: count (per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PP_DROP_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pp_drop_counters SEC(".maps");

/* Before Linux 5.12 struct net kept its cookie in an atomic64_t. */
struct net___atomic_cookie {
	atomic64_t net_cookie;
} __attribute__((preserve_access_index));

static __always_inline void pp_drop_count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&pp_drop_counters, &which);

	if (v)
		*v += 1;
}

static __always_inline __u64 pp_net_cookie(struct net *net)
{
	if (!net)
		return 0;
	if (bpf_core_field_exists(((struct net___atomic_cookie *)net)->net_cookie))
		return (__u64)((struct net___atomic_cookie *)net)->net_cookie.counter;
	return net->net_cookie;
}

static __always_inline int pp_tracked(const __u8 *addr)
{
	struct pp_cidr_key key = {.prefixlen = 128};

	__builtin_memcpy(key.addr, addr, 16);
	return bpf_map_lookup_elem(&pp_drop_cidrs, &key) != 0;
}

static __always_inline __u32 pp_be32(const __u8 *p)
{
	return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

/* Ports, flags and sequence number from the first `n` bytes of the L4 header (as tc_flow's
 * parser keys them: ICMP sport = echo id, dport = type << 8 | code). A field is taken only
 * when all its bytes lie inside the packet; the others stay 0. */
static __always_inline void pp_drop_l4(const __u8 *l4, __u32 n, struct pp_drop_event *ev)
{
	__u8 proto = ev->flow.proto;

	if (proto == PP_IPPROTO_TCP || proto == PP_IPPROTO_UDP || proto == PP_IPPROTO_UDPLITE ||
	    proto == PP_IPPROTO_SCTP) {
		if (n < 4)
			return;
		ev->flow.sport = pp_be16(l4);
		ev->flow.dport = pp_be16(l4 + 2);
		if (proto != PP_IPPROTO_TCP)
			return;
		if (n >= 8)
			ev->seq = pp_be32(l4 + 4);
		if (n >= 14)
			ev->tcp_flags = l4[13];
	} else if (proto == PP_IPPROTO_ICMP || proto == PP_IPPROTO_ICMPV6) {
		if (n < 2)
			return;
		__u8 type = l4[0];
		int echo =
			proto == PP_IPPROTO_ICMP
				? (type == PP_ICMP_ECHO || type == PP_ICMP_ECHO_REPLY)
				: (type == PP_ICMPV6_ECHO_REQUEST || type == PP_ICMPV6_ECHO_REPLY);
		ev->flow.dport = (__u16)((__u16)type << 8 | l4[1]);
		if (echo && n >= 6)
			ev->flow.sport = pp_be16(l4 + 4);
		if (echo && n >= 8)
			ev->seq = pp_be16(l4 + 6);
	}
}

/*
 * Fills the flow part of `ev` from the packet's IP header. Returns 0, or the counter that
 * explains why the packet is not recorded.
 */
static __always_inline int pp_drop_parse(struct sk_buff *skb, struct pp_drop_event *ev)
{
	__u16 proto = bpf_ntohs(skb->protocol);
	__u16 nh_off = skb->network_header;
	unsigned char *head = skb->head;
	__u8 ip[40];
	__u8 l4[2 * PP_DROP_L4_BYTES] = {}; /* twice the bytes read: see the mask below */
	const unsigned char *l4p;
	__u32 l4_len; /* L4 bytes the IP header says the packet carries */

	if (proto != PP_ETH_P_IP && proto != PP_ETH_P_IPV6)
		return PP_DROP_CNT_NOT_IP;
	if (nh_off == PP_NH_UNSET || !head)
		return PP_DROP_CNT_NO_HEADER;
	/* Only the linear area [head, head + tail) holds this packet's bytes; what lies
	 * beyond is stale memory of the buffer, never to be read as headers. */
	__u32 tail = skb->tail;
	if (tail <= nh_off)
		return PP_DROP_CNT_NO_HEADER;
	__u32 linear = tail - nh_off; /* bytes from the network header to the linear end */
	const unsigned char *nh = head + nh_off;

	if (proto == PP_ETH_P_IP) {
		if (linear < 20 || bpf_probe_read_kernel(ip, 20, nh))
			return PP_DROP_CNT_NO_HEADER;
		__u8 ihl = ip[0] & 0x0f;
		if ((ip[0] >> 4) != 4 || ihl < 5)
			return PP_DROP_CNT_NO_HEADER;
		ev->flow.proto = ip[9];
		pp_set_v4mapped(ev->flow.saddr, ip + 12);
		pp_set_v4mapped(ev->flow.daddr, ip + 16);
		ev->ip_len = pp_be16(ip + 2);
		ev->ip_id = pp_be16(ip + 4);
		ev->ttl = ip[8];
		__u16 frag = pp_be16(ip + 6);
		if (frag & 0x4000)
			ev->flags |= PP_DROP_F_DF;
		if (frag & 0x1fff) {
			ev->flow.flags |= PP_KEY_F_FRAGMENT;
			return 0;
		}
		__u32 hlen = (__u32)ihl * 4;
		l4p = nh + hlen;
		l4_len = ev->ip_len > hlen ? ev->ip_len - hlen : 0;
		linear = linear > hlen ? linear - hlen : 0;
	} else {
		if (linear < 40 || bpf_probe_read_kernel(ip, 40, nh))
			return PP_DROP_CNT_NO_HEADER;
		if ((ip[0] >> 4) != 6)
			return PP_DROP_CNT_NO_HEADER;
		ev->flow.flags |= PP_KEY_F_IPV6;
		ev->flow.proto = ip[6]; /* extension headers are not walked: ports stay 0 */
		pp_copy_addr6(ev->flow.saddr, ip + 8);
		pp_copy_addr6(ev->flow.daddr, ip + 24);
		l4_len = pp_be16(ip + 4);
		ev->ip_len = (__u16)(l4_len + 40);
		ev->ttl = ip[7];
		l4p = nh + 40;
		linear -= 40;
	}
	/* Read only what the packet has: its IP length and the linear area bound the L4
	 * bytes. A truncated L4 header leaves its fields at 0; the addresses still place
	 * the drop. */
	__u32 n = l4_len < linear ? l4_len : linear;
	if (n > PP_DROP_L4_BYTES)
		n = PP_DROP_L4_BYTES;
	/* The compiler folds the clamp into a form the verifier cannot follow; the mask
	 * after the barrier is one it can (the buffer has room for what the mask allows). */
	barrier_var(n);
	n &= sizeof(l4) - 1;
	if (n > 0 && bpf_probe_read_kernel(l4, n, l4p) == 0)
		pp_drop_l4(l4, n, ev);
	return 0;
}

/*
 * Delivered, then declined by the local stack in a way that is no network drop: a socket's
 * filter refused its copy (every raw ICMP socket, e.g. ping's, sees every echo reply and
 * filters out the others' ids), or an ICMP message no ping socket wanted (raw sockets had
 * their copies already). Each echo reply causes one or two of these on a healthy host.
 */
static __always_inline int pp_local_decline(__u32 reason, __u8 proto)
{
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_SOCKET_FILTER) &&
	    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_SOCKET_FILTER))
		return 1;
	return (proto == PP_IPPROTO_ICMP || proto == PP_IPPROTO_ICMPV6) &&
	       bpf_core_enum_value_exists(enum skb_drop_reason, SKB_DROP_REASON_NO_SOCKET) &&
	       reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NO_SOCKET);
}

static __always_inline int pp_on_drop(struct sk_buff *skb, void *location, __u32 reason,
				      int has_reason)
{
	pp_drop_count(PP_DROP_CNT_CALLS);
	if (has_reason) {
		if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_CONSUMED) &&
		    reason == bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED)) {
			pp_drop_count(PP_DROP_CNT_NOT_DROP);
			return 0;
		}
		if (pp_cfg_drop_skip_unspecified &&
		    reason == bpf_core_enum_value(enum skb_drop_reason,
						  SKB_DROP_REASON_NOT_SPECIFIED)) {
			pp_drop_count(PP_DROP_CNT_NOT_DROP);
			return 0;
		}
	}

	struct pp_drop_event ev = {};
	int err = pp_drop_parse(skb, &ev);
	if (err) {
		pp_drop_count(err);
		return 0;
	}
	if (has_reason && pp_cfg_drop_skip_local && pp_local_decline(reason, ev.flow.proto)) {
		pp_drop_count(PP_DROP_CNT_NOT_DROP);
		return 0;
	}
	if (!pp_cfg_drop_track_all && !pp_tracked(ev.flow.saddr) && !pp_tracked(ev.flow.daddr)) {
		pp_drop_count(PP_DROP_CNT_UNTRACKED);
		return 0;
	}

	struct pp_drop_event *out = bpf_ringbuf_reserve(&pp_drop_events, sizeof(*out), 0);
	if (!out) {
		pp_drop_count(PP_DROP_CNT_RINGBUF_FULL);
		return 0;
	}
	ev.ts_ns = bpf_ktime_get_ns();
	ev.location = (__u64)location;
	ev.reason = reason;
	if (has_reason)
		ev.flags |= PP_DROP_F_REASON;
	ev.skb_iif = (__u32)skb->skb_iif;
	struct net_device *dev = skb->dev;
	if (dev) {
		ev.ifindex = (__u32)dev->ifindex;
		ev.netns_cookie = pp_net_cookie(dev->nd_net.net);
		bpf_probe_read_kernel_str(ev.ifname, sizeof(ev.ifname), dev->name);
	} else {
		ev.flags |= PP_DROP_F_NO_DEV;
		struct sock *sk = skb->sk;
		if (sk)
			ev.netns_cookie = pp_net_cookie(sk->__sk_common.skc_net.net);
	}
	*out = ev;
	__u64 waiting = bpf_ringbuf_query(&pp_drop_events, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(out, waiting >= pp_cfg_drop_wakeup_bytes ? BPF_RB_FORCE_WAKEUP
								    : BPF_RB_NO_WAKEUP);
	pp_drop_count(PP_DROP_CNT_RECORDED);
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(pp_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	return pp_on_drop(skb, location, (__u32)reason, 1);
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(pp_kfree_skb_noreason, struct sk_buff *skb, void *location)
{
	return pp_on_drop(skb, location, 0, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

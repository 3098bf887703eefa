/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * podpath ABI: the only definitions shared by the BPF programs and userspace.
 *
 * Rules: plain C, fixed-width __u* types, no packed structs, padding written
 * out. userspace/bpf/abi.hpp pins every size and offset with static_assert,
 * so a change here that breaks the layout fails the C++ build.
 *
 * Byte order: addresses are stored as they appear on the wire (network byte
 * order); ports and every other integer are host byte order.
 */
#ifndef PODPATH_ABI_H
#define PODPATH_ABI_H

#ifdef __bpf__
/* BPF side: vmlinux.h already provides __u8 ... __u64. */
#else
#include <linux/types.h>
#endif

#define PP_ABI_VERSION 1

/* Direction of an observation point, from the interface's point of view. */
enum pp_direction {
	PP_DIR_INGRESS = 0, /* received by the interface (TC ingress) */
	PP_DIR_EGRESS = 1,  /* sent by the interface (TC egress) */
};

/*
 * Where a packet was seen: (network namespace, interface, direction). The lab
 * runs several nodes on one kernel, so an ifindex alone is ambiguous. Packed
 * into 8 bytes because it is part of every flows-map key: hashing a 48-byte
 * key instead of a 56-byte one saves ~6 ns per packet (docs/datapath.md).
 */
struct pp_obs_point {
	__u32 netns;  /* low 32 bits of the network-namespace cookie (a global counter) */
	__u32 if_dir; /* ifindex << 1 | enum pp_direction */
};

#define PP_POINT_IF_DIR(ifindex, dir) ((__u32)(ifindex) << 1 | (__u32)(dir))
#define PP_POINT_IFINDEX(if_dir)      ((if_dir) >> 1)
#define PP_POINT_DIRECTION(if_dir)    ((if_dir)&1)

/* pp_flow_key.flags */
#define PP_KEY_F_FRAGMENT 0x01 /* non-first IP fragment: no L4 header, ports are 0 */
#define PP_KEY_F_IPV6	  0x02 /* addresses are native IPv6 (else v4-mapped IPv4) */

/*
 * One direction of a flow. IPv4 addresses are v4-mapped (::ffff:a.b.c.d).
 * ICMP/ICMPv6: sport = echo identifier (0 for non-echo messages),
 * dport = type << 8 | code.
 */
struct pp_flow_key {
	__u8 saddr[16]; /* source address, network byte order */
	__u8 daddr[16]; /* destination address, network byte order */
	__u16 sport;	/* source port, host byte order */
	__u16 dport;	/* destination port, host byte order */
	__u8 proto;	/* IP protocol number (IPPROTO_*) */
	__u8 flags;	/* PP_KEY_F_* */
	__u16 pad;	/* zero */
};

/* Key of the flows map: a flow direction as seen at one observation point. */
struct pp_flow_map_key {
	struct pp_obs_point point;
	struct pp_flow_key flow;
};

/*
 * Key of the IPv4 flows map (pp_flows4): what pp_flow_map_key holds for an IPv4 packet,
 * with 4-byte addresses. At 24 bytes instead of 48, every lookup hashes and compares half
 * as much: -11 ns per packet (docs/datapath.md). pp_flows keeps IPv6 packets, including
 * those whose addresses are v4-mapped.
 */
struct pp_flow4_map_key {
	struct pp_obs_point point;
	__u8 saddr[4]; /* source IPv4 address, network byte order */
	__u8 daddr[4]; /* destination IPv4 address, network byte order */
	__u16 sport;   /* as pp_flow_key */
	__u16 dport;
	__u8 proto;
	__u8 flags; /* PP_KEY_F_FRAGMENT; never PP_KEY_F_IPV6 */
	__u16 pad;  /* zero */
};

/* pp_flow_stats.flags */
#define PP_FLOW_F_MATRIX 0x01 /* this point counts the flow into the CIDR matrix */

/* Value of the flows map. */
struct pp_flow_stats {
	__u64 packets;	     /* wire packets seen: a GSO/GRO skb counts its segments */
	__u64 bytes;	     /* bytes seen on the wire, L2 frame length (skb->len, plus the
				headers every further segment of a GSO/GRO skb repeats) */
	__u64 first_seen_ns; /* CLOCK_MONOTONIC_COARSE ns of the first packet (see
				pp_cfg_coarse_clock) */
	__u64 last_seen_ns;  /* same clock, the latest packet (approximate) */
	__u16 src_cidr;	     /* CIDR id of saddr, PP_CIDR_OTHER, or PP_CIDR_UNCLASSIFIED */
	__u16 dst_cidr;	     /* CIDR id of daddr */
	__u8 tcp_flags;	     /* OR of the TCP flags byte of every packet (0 if not TCP) */
	__u8 flags;	     /* PP_FLOW_F_* */
	__u16 key_tag;	     /* a 16-bit fold of the entry's key, set when it is created:
				a program that finds it changed knows the entry was deleted
				and reused for another flow while it held it */
	__u32 log_epoch;     /* the change-log epoch (pp_log_epoch) in which a packet last
				logged this entry's key to pp_changed: a packet that finds
				another epoch logs the key again (docs/datapath.md) */
	__u32 pad;	     /* zero */
};

/*
 * The change log's per-CPU stage (pp_log_stage): a program writes a changed entry's key to a
 * slot of its CPU's stage, and the full stage to pp_changed in one record when the next key
 * would not fit, instead of one ring-buffer write per key (50-65 ns each). Userspace reads
 * the ring and every CPU's stage at each refresh (docs/datapath.md, "The change log").
 */
#define PP_LOG_STAGE_SLOTS 32

struct pp_log_slot {
	__u32 size; /* the key's bytes: sizeof(struct pp_flow4_map_key) (an entry of pp_flows4)
		       or sizeof(struct pp_flow_map_key) (pp_flows) */
	__u32 pad;  /* zero */
	__u8 key[48];
};

struct pp_log_stage {
	__u64 logged; /* keys this CPU staged since load; key n sits in slot n % PP_LOG_STAGE_SLOTS
			 (the slots of keys from (logged - 1) rounded down to a multiple of
			 PP_LOG_STAGE_SLOTS, up to logged, are the staged ones). Stored after the
			 slot. */
	__u32 busy;   /* a program on this CPU is staging: one that runs nested in it (an
			 interrupt) writes its key to pp_changed directly */
	__u32 pad;    /* zero */
	struct pp_log_slot slot[PP_LOG_STAGE_SLOTS];
};

/*
 * Looking up many logged keys in one call: userspace writes up to PP_READ_BATCH keys of one
 * flows map to pp_read_batch (mmapped), then runs pp_read_logged (a BPF_PROG_TYPE_SYSCALL
 * program, through BPF_PROG_TEST_RUN) with struct pp_read_args as its context; the program
 * looks each key up and writes what it found next to it. One call instead of one lookup
 * syscall per key (2-4 us each on a VM whose kernel mitigates every return).
 */
#define PP_READ_BATCH 4096

struct pp_read_args {
	__u32 count; /* entries of pp_read_batch to look up, from 0 (at most PP_READ_BATCH) */
	__u32 ipv4;  /* 1: the keys are struct pp_flow4_map_key, of pp_flows4; 0: pp_flows */
};

struct pp_read_entry {
	struct pp_flow_map_key key; /* written by userspace (an IPv4 key in its first 24 B) */
	struct pp_flow_stats stats; /* the entry's value, if found */
	__u32 found;		    /* 1: found (stats is its value); 0: not in the map */
	__u32 pad;
};

/*
 * Records of the flows-map iterator (bpf/flow_iter.bpf.c): one changed entry of pp_flows4 /
 * pp_flows, key then value, written to the iterator's seq file back to back.
 */
struct pp_flow4_record {
	struct pp_flow4_map_key key;
	struct pp_flow_stats stats;
};

struct pp_flow_record {
	struct pp_flow_map_key key;
	struct pp_flow_stats stats;
};

/* CIDR ids: 0 is "other" (no configured CIDR contains the address). Addresses
 * are classified only at points that may count into the CIDR matrix; elsewhere
 * the id is PP_CIDR_UNCLASSIFIED and userspace classifies for display. */
#define PP_CIDR_OTHER	     0
#define PP_CIDR_UNCLASSIFIED 0xffff
#define PP_MAX_CIDRS	     64

/* Key of the CIDR LPM trie. IPv4 prefixes are stored v4-mapped, prefixlen + 96. */
struct pp_cidr_key {
	__u32 prefixlen; /* bits, 0..128 */
	__u8 addr[16];	 /* network byte order */
};

/* pp_cidr_info.flags */
#define PP_CIDR_F_COUNTED_AT_SOURCE                                                                \
	0x01 /* packets from this CIDR are counted where they leave a pod */

/* Value of the CIDR LPM trie. */
struct pp_cidr_info {
	__u32 id;    /* 1 .. PP_MAX_CIDRS-1 */
	__u32 flags; /* PP_CIDR_F_* */
};

/* Role of an interface, told by userspace when it attaches. */
enum pp_iface_role {
	PP_ROLE_OTHER = 0,
	PP_ROLE_POD = 1,    /* host-side veth of a pod: ingress = leaving the pod */
	PP_ROLE_BRIDGE = 2, /* the pod bridge (cbr0, cni0) */
	PP_ROLE_UPLINK = 3, /* the node's uplink (interface of the default route) */
};

/* Key of the interfaces map. */
struct pp_iface_key {
	__u32 netns;   /* as in pp_obs_point */
	__u32 ifindex; /* interface index inside that namespace */
};

/* Value of the interfaces map. */
struct pp_iface_info {
	__u32 role; /* enum pp_iface_role */
	__u32 pad;  /* zero */
};

/*
 * The CIDR matrix counts each packet once, where it enters the observed network:
 * at a pod veth's ingress (leaving a pod), or at an uplink's ingress when the
 * source CIDR is not PP_CIDR_F_COUNTED_AT_SOURCE. The decision is made when a
 * flow is first seen at a point and kept in PP_FLOW_F_MATRIX.
 */

/* One cell of the CIDR matrix (per-CPU array indexed src_id * PP_MAX_CIDRS + dst_id). */
struct pp_matrix_cell {
	__u64 packets; /* wire packets, as pp_flow_stats */
	__u64 bytes;   /* wire bytes, L2 frame length, as pp_flow_stats */
};

/*
 * Ring-buffer record: a wake-up. Some flow was first seen at some point on this CPU. The
 * reader only learns that something is new (it refreshes early; the flows maps say what):
 * each CPU emits at most one record per PP_EVENT_GAP_NS, so a burst of new flows costs one
 * ring-buffer reserve and submit, not one per flow (docs/datapath.md).
 */
struct pp_flow_event {
	__u64 ts_ns; /* same clock as pp_flow_stats.first_seen_ns */
};

/* Least time between two wake-up records of one CPU: well under the 20 ms the live view
 * waits between drains, so it still reacts within tens of milliseconds. */
#define PP_EVENT_GAP_NS (5 * 1000 * 1000ULL)

/* Benchmarks only: parts of tc_flow's per-packet work a bench variant leaves out
 * (pp_cfg_bench_without), to measure each one's cost. Counts are wrong in such a variant. */
#define PP_BENCH_WITHOUT_PACKETS (1U << 0) /* the PP_CNT_PACKETS increment */
#define PP_BENCH_WITHOUT_ATOMICS (1U << 1) /* packets/bytes: plain adds instead of atomic ones */
#define PP_BENCH_WITHOUT_CLOCK	 (1U << 2) /* the clock read (a constant time) */
#define PP_BENCH_WITHOUT_TAG	 (1U << 3) /* the key tag: computed, checked before and after */
#define PP_BENCH_WITHOUT_NETNS	 (1U << 4) /* the namespace read (a constant namespace) */

/*
 * Health counters (per-CPU array indexed by enum pp_counter). Every packet
 * that is not fully accounted for lands in exactly one of these.
 */
enum pp_counter {
	PP_CNT_PACKETS = 0,    /* wire packets seen by any program (GSO/GRO skbs: their segments) */
	PP_CNT_NON_IP,	       /* not IPv4/IPv6 (ARP, LLDP, ...): passed, not counted */
	PP_CNT_ERR_ETH_TRUNC,  /* shorter than an Ethernet header */
	PP_CNT_ERR_VLAN_TRUNC, /* truncated 802.1Q/802.1ad tag */
	PP_CNT_ERR_VLAN_DEPTH, /* more VLAN tags than the parser follows */
	PP_CNT_ERR_IPV4_TRUNC, /* truncated IPv4 header */
	PP_CNT_ERR_IPV4_HDR,   /* IPv4 version != 4 or IHL < 5 */
	PP_CNT_ERR_IPV6_TRUNC, /* truncated IPv6 header or extension header */
	PP_CNT_ERR_IPV6_HDR,   /* IPv6 version != 6 */
	PP_CNT_ERR_IPV6_EXT_DEPTH, /* more IPv6 extension headers than the walk bound */
	PP_CNT_ERR_L4_TRUNC,	   /* truncated TCP/UDP/ICMP/SCTP header */
	PP_CNT_ERR_TCP_DOFF,	   /* TCP data offset < 5 */
	PP_CNT_FLOW_INSERT_FULL,   /* a new flow not tracked: the flows map is full (an insert
				      failed with E2BIG/ENOMEM, now or in the last 100 ms) */
	PP_CNT_FLOW_INSERT_BUSY,   /* flows map insert failed with EBUSY */
	PP_CNT_FLOW_INSERT_OTHER,  /* flows map insert failed with another errno */
	PP_CNT_FLOW_RACE,	   /* insert lost a race (EEXIST) and the retry lookup failed */
	PP_CNT_RINGBUF_FULL,	   /* new-flow event dropped: ring buffer full */
	PP_CNT_LPM_MISS,	   /* an address matched no CIDR (counted as "other") */
	PP_CNT_FRAGMENTS,	   /* non-first fragments (counted with ports 0) */
	PP_CNT_NEW_FLOWS,	   /* flow entries created */
	PP_CNT_PULLED, /* headers were outside the linear area: pulled in, then parsed */
	PP_CNT_GSO,    /* skbs that carried several wire packets (GSO/GRO), counted per packet */
	PP_CNT_FLOW_RECYCLED,	/* a packet's flow entry was expired and reused for another flow
				   while the program held it: caught before counting (the
				   packet then counts in a new entry of its own flow) or after
				   (the packet may have counted in the other flow) */
	PP_CNT_NAT_RECORDED,	/* a NAT translation recorded in pp_nat4 (a new translated flow
				   at an egress point whose connection it did not hold yet) */
	PP_CNT_NAT_INSERT_FAIL, /* a translation not recorded: pp_nat4 insert failed (full) */
	PP_CNT_CHANGE_LOG_FULL, /* changed entries' keys not logged (a stage's record of
				   PP_LOG_STAGE_SLOTS keys counts once): pp_changed was full (the
				   next refresh walks the maps instead of reading the log) */
	PP_CNT_MAX,
};

/* ------------------------------------------------------------------------------------------
 * NAT (kube-proxy's DNAT to a Service backend, masquerading): tc_flow records, for a new IPv4
 * flow at an egress point, the translation conntrack made for its connection. At egress the
 * packet has passed netfilter, so skb->_nfct points to its conntrack entry, and the entry
 * holds both tuples: the original (what the client sent, e.g. to the ClusterIP) and the
 * reply (what the other end sends back: from the backend). Userspace joins the flows before
 * and after the translation with them (docs/services.md).
 */

/* pp_nat4_value.status */
#define PP_NAT_F_DST 0x01 /* destination translated (DNAT: ClusterIP -> backend) */
#define PP_NAT_F_SRC 0x02 /* source translated (SNAT, MASQUERADE) */

/*
 * Key of pp_nat4: a translated connection by conntrack's original tuple, in the namespace
 * that translated it. ICMP: sport = echo identifier, dport = type << 8 | code (as flow keys).
 */
struct pp_nat4_key {
	__u32 netns;   /* as pp_obs_point.netns: the namespace whose conntrack translated */
	__u8 saddr[4]; /* original source (the client), network byte order */
	__u8 daddr[4]; /* original destination (e.g. the ClusterIP), network byte order */
	__u16 sport;   /* original source port, host byte order */
	__u16 dport;   /* original destination port (the Service port), host byte order */
	__u8 proto;    /* IP protocol number */
	__u8 pad[3];   /* zero */
};

/* Value of pp_nat4: conntrack's reply tuple, what the other end sends back. */
struct pp_nat4_value {
	__u8 reply_saddr[4]; /* reply source: the backend after DNAT, network byte order */
	__u8 reply_daddr[4]; /* reply destination: the client, or its SNAT address */
	__u16 reply_sport;   /* reply source port (the backend's target port), host byte order */
	__u16 reply_dport;   /* reply destination port, host byte order */
	__u32 status;	     /* PP_NAT_F_* */
	__u32 if_dir;	     /* where it was recorded: ifindex << 1 | direction (pp_obs_point) */
	__u64 first_seen_ns; /* same clock as pp_flow_stats.first_seen_ns */
};

/* Tunables live in .rodata (const volatile), set by userspace between open and load. */

/* ------------------------------------------------------------------------------------------
 * Container attribution (bpf/cgroup_flow.bpf.c): traffic per cgroup v2 id, i.e. per
 * container. Pinned in userspace/bpf/cgroup_abi.hpp.
 */

/* How cgroup_flow learns the network namespace of a packet's socket (pp_cfg_cg_netns). */
enum pp_cg_netns_mode {
	PP_CG_NETNS_NONE = 0,	   /* not recorded: netns_cookie is 0 */
	PP_CG_NETNS_HELPER = 1,	   /* bpf_get_netns_cookie(skb) in cgroup_skb (newest kernels) */
	PP_CG_NETNS_KERN_CTX = 2,  /* bpf_cast_to_kern_ctx + CO-RE skb->sk->sk_net (Linux 6.3+) */
	PP_CG_NETNS_SOCK_CAST = 3, /* bpf_skc_to_tcp_sock/udp6_sock + CO-RE (Linux 5.9+): TCP and
				      UDP over IPv6 sockets only, other packets get cookie 0 */
};

/*
 * Key of the container-flows map: one socket-side 5-tuple of one cgroup in one network
 * namespace. "Local" is the container's end: the source of what its sockets send
 * (egress), the destination of what they receive (ingress), so both directions of a
 * connection share one entry. IPv4 addresses are v4-mapped (::ffff:a.b.c.d).
 * ICMP/ICMPv6: lport = echo identifier (0 for non-echo messages), rport = 0.
 */
struct pp_cg_flow_key {
	__u64 cgroup_id;    /* cgroup v2 id of the socket's cgroup (its directory's inode) */
	__u64 netns_cookie; /* cookie of the socket's network namespace; 0 = not known */
	__u8 laddr[16];	    /* local (container-side) address, network byte order */
	__u8 raddr[16];	    /* remote address, network byte order */
	__u16 lport;	    /* local port, host byte order */
	__u16 rport;	    /* remote port, host byte order */
	__u8 proto;	    /* IP protocol number (IPPROTO_*) */
	__u8 flags;	    /* PP_KEY_F_* (fragment, IPv6) */
	__u16 pad;	    /* zero */
};

/* Value of the container-flows map. Packets count wire segments: an skb that carries
 * several GSO/GRO segments counts gso_segs packets and their headers once each. */
struct pp_cg_flow_stats {
	__u64 tx_packets;    /* packets the cgroup's sockets sent (cgroup_skb egress) */
	__u64 tx_bytes;	     /* bytes sent: IP packet length, IP header included, no L2 header */
	__u64 rx_packets;    /* packets delivered to the cgroup's sockets (cgroup_skb ingress) */
	__u64 rx_bytes;	     /* bytes received, as tx_bytes */
	__u64 first_seen_ns; /* CLOCK_MONOTONIC(_COARSE) ns of the first packet */
	__u64 last_seen_ns;  /* same clock, the latest packet (approximate: plain store) */
};

/*
 * Health counters of cgroup_flow (per-CPU array indexed by enum pp_cg_counter). Every
 * packet either lands in the flows map or in one of the *_ERR/NON_IP/INSERT_* counters.
 * Parse errors are also counted by kind in pp_cg_parse_errors (indexed by enum pp_counter).
 */
enum pp_cg_counter {
	PP_CG_CNT_PACKETS = 0,	 /* skbs seen by either program */
	PP_CG_CNT_NON_IP,	 /* neither IPv4 nor IPv6: passed, not counted */
	PP_CG_CNT_PARSE_ERR,	 /* malformed or truncated header: passed, not counted */
	PP_CG_CNT_NO_CGROUP,	 /* no full socket, cgroup id 0: counted under cgroup 0 */
	PP_CG_CNT_NETNS_UNKNOWN, /* namespace not readable in this mode: counted with cookie 0 */
	PP_CG_CNT_INSERT_FULL,	 /* map insert failed with E2BIG/ENOMEM (map full): not counted */
	PP_CG_CNT_INSERT_BUSY,	 /* map insert failed with EBUSY: not counted */
	PP_CG_CNT_INSERT_OTHER,	 /* map insert failed with another errno: not counted */
	PP_CG_CNT_INSERT_RACE,	 /* insert lost a race (EEXIST) and the retry lookup failed */
	PP_CG_CNT_NEW_ENTRIES,	 /* map entries created */
	PP_CG_CNT_FRAGMENTS,	 /* non-first IP fragments (counted with ports 0) */
	PP_CG_CNT_GSO,		 /* skbs carrying several segments (counted per segment) */
	PP_CG_CNT_MAX,
};

/* ------------------------------------------------------------------------------------------
 * Drop tracking (bpf/drop.bpf.c): packets of tracked CIDRs that the kernel frees as dropped
 * (tracepoint skb:kfree_skb), with the kernel's reason and location. Pinned in
 * userspace/bpf/drop_abi.hpp.
 */

/*
 * pp_drop_event.flags. REASON: `reason` holds the kernel's enum skb_drop_reason (Linux
 * 5.17+); without it the kernel told the location only. NO_DEV: the skb had no device,
 * so ifindex/ifname are empty and the namespace is the socket's.
 */
#define PP_DROP_F_REASON 0x01
#define PP_DROP_F_DF	 0x02 /* IPv4 Don't Fragment bit set */
#define PP_DROP_F_NO_DEV 0x04

/*
 * Key of the tracked-CIDR trie pp_drop_cidrs: struct pp_cidr_key (IPv4 v4-mapped, prefixlen
 * + 96). Value: __u32, the CIDR id userspace chose (informational). A dropped packet is
 * recorded when its source or destination address lies in a tracked CIDR.
 */

/*
 * Ring-buffer record: one dropped packet of a tracked CIDR. The namespace is that of
 * skb->dev (else of skb->sk), ifindex is inside it; skb_iif is the ifindex the packet
 * arrived on (0 = sent locally). seq is the TCP sequence number or the ICMP/ICMPv6 echo
 * sequence number (else 0). ip_len counts the IP header.
 */
struct pp_drop_event {
	__u64 ts_ns;		 /* CLOCK_MONOTONIC ns (bpf_ktime_get_ns) when freed */
	__u64 location;		 /* kernel text address that freed it (host order) */
	__u64 netns_cookie;	 /* namespace cookie; 0 = unknown */
	struct pp_flow_key flow; /* as pp_flows keys it (ICMP: echo id, type/code) */
	__u32 reason;		 /* enum skb_drop_reason (with PP_DROP_F_REASON) */
	__u32 ifindex;		 /* skb->dev->ifindex; 0 = no device */
	__u32 skb_iif;		 /* ifindex it arrived on; 0 = sent locally */
	__u32 seq;		 /* TCP / ICMP echo sequence number, host byte order */
	__u16 ip_id;		 /* IPv4 identification, host byte order; 0 for IPv6 */
	__u16 ip_len;		 /* IP packet length in bytes, host byte order */
	__u8 ttl;		 /* IPv4 TTL / IPv6 hop limit */
	__u8 tcp_flags;		 /* TCP flags byte; 0 if not TCP */
	__u8 flags;		 /* PP_DROP_F_* */
	__u8 pad;		 /* zero */
	char ifname[16];	 /* skb->dev->name, NUL-terminated; "" without a device */
};

/*
 * Counters of drop.bpf.c (per-CPU array indexed by enum pp_drop_counter). Every call lands
 * in exactly one of NOT_DROP .. RINGBUF_FULL.
 */
enum pp_drop_counter {
	PP_DROP_CNT_CALLS = 0,	  /* kfree_skb tracepoint hits */
	PP_DROP_CNT_NOT_DROP,	  /* no network drop: reason SKB_CONSUMED, a local socket declining
				     its copy (SOCKET_FILTER, ICMP NO_SOCKET), NOT_SPECIFIED if told */
	PP_DROP_CNT_NOT_IP,	  /* not IPv4/IPv6 (ARP, ...) */
	PP_DROP_CNT_NO_HEADER,	  /* no network header set, or unreadable */
	PP_DROP_CNT_UNTRACKED,	  /* neither address in a tracked CIDR */
	PP_DROP_CNT_RECORDED,	  /* a pp_drop_event was submitted */
	PP_DROP_CNT_RINGBUF_FULL, /* a tracked drop was lost: ring buffer full */
	PP_DROP_CNT_MAX,
};

#endif /* PODPATH_ABI_H */

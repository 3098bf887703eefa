/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Packet parser: Ethernet, 802.1Q/802.1ad (up to PP_VLAN_MAX tags), IPv4 with
 * options and fragments, IPv6 with a bounded walk of extension headers, and
 * the TCP/UDP/SCTP/ICMP/ICMPv6 header fields that make a flow key.
 *
 * Reads only: bytes are composed by hand (no casts to wider types), so the
 * same code compiles for the BPF target and for the userspace fuzz harness
 * (tests/fuzz), where ASan/UBSan check every access. The caller provides
 * [data, data_end): the linear packet area.
 */
#ifndef PODPATH_PARSE_BPF_H
#define PODPATH_PARSE_BPF_H

#include "podpath_abi.h"

#define PP_VLAN_MAX	2 /* 802.1Q + 802.1ad (QinQ) */
#define PP_IPV6_EXT_MAX 8 /* extension headers walked before giving up */

#define PP_ETH_HLEN	14
#define PP_ETH_P_IP	0x0800
#define PP_ETH_P_IPV6	0x86DD
#define PP_ETH_P_8021Q	0x8100
#define PP_ETH_P_8021AD 0x88A8

#define PP_IPPROTO_HOPOPTS  0
#define PP_IPPROTO_ICMP	    1
#define PP_IPPROTO_TCP	    6
#define PP_IPPROTO_UDP	    17
#define PP_IPPROTO_ROUTING  43
#define PP_IPPROTO_FRAGMENT 44
#define PP_IPPROTO_AH	    51
#define PP_IPPROTO_ICMPV6   58
#define PP_IPPROTO_DSTOPTS  60
#define PP_IPPROTO_SCTP	    132
#define PP_IPPROTO_UDPLITE  136

#define PP_ICMP_ECHO_REPLY     0
#define PP_ICMP_ECHO	       8
#define PP_ICMPV6_ECHO_REQUEST 128
#define PP_ICMPV6_ECHO_REPLY   129

#define PP_TCP_HLEN_MIN	  20 /* TCP header without options */
#define PP_TCP_DOFF_BYTE  12 /* data offset, in 32-bit words, in the high nibble */
#define PP_TCP_FLAGS_BYTE 13
#define PP_UDP_HLEN	  8

/* What the parser found besides the key. */
struct pp_parsed {
	struct pp_flow_key key;
	__u32 tcp_flags; /* TCP flags byte (0 if not TCP) */
	__u32 l4_off;	 /* offset of the L4 header from data (0 for non-first fragments) */
};

static __always_inline __u16 pp_be16(const __u8 *p)
{
	return (__u16)((__u16)p[0] << 8 | p[1]);
}

/* A 32-bit word from the packet, bytes in wire order. BPF allows unaligned packet
 * loads (x86, arm64); userspace goes through memcpy so UBSan stays quiet. */
static __always_inline __u32 pp_load32(const __u8 *p)
{
#ifdef __bpf__
	return *(const __u32 *)p;
#else
	__u32 v;
	__builtin_memcpy(&v, p, 4);
	return v;
#endif
}

/* dst is 4-byte aligned (a field of struct pp_flow_key). */
static __always_inline void pp_copy_addr6(__u8 *dst, const __u8 *src)
{
	__u32 *d = (__u32 *)dst;

	d[0] = pp_load32(src);
	d[1] = pp_load32(src + 4);
	d[2] = pp_load32(src + 8);
	d[3] = pp_load32(src + 12);
}

static __always_inline void pp_set_v4mapped(__u8 *dst, const __u8 *src)
{
	__u32 *d = (__u32 *)dst;

	d[0] = 0;
	d[1] = 0;
	d[2] = 0;
	dst[10] = 0xff;
	dst[11] = 0xff;
	d[3] = pp_load32(src);
}

/* Length of the TCP header at `l4` (data offset x 4); byte PP_TCP_DOFF_BYTE must be readable. */
static __always_inline __u32 pp_tcp_header_len(const __u8 *l4)
{
	return (__u32)(l4[PP_TCP_DOFF_BYTE] >> 4) * 4;
}

/*
 * L4 fields at `l4`. Returns 0 or the pp_counter of the parse error. ICMP:
 * sport = echo identifier (echo messages only), dport = type << 8 | code.
 */
static __always_inline int pp_parse_l4(const __u8 *l4, const __u8 *data_end, struct pp_parsed *out)
{
	__u8 proto = out->key.proto;

	if (proto == PP_IPPROTO_TCP) {
		if (l4 + PP_TCP_HLEN_MIN > data_end)
			return PP_CNT_ERR_L4_TRUNC;
		if (pp_tcp_header_len(l4) < PP_TCP_HLEN_MIN)
			return PP_CNT_ERR_TCP_DOFF;
		out->key.sport = pp_be16(l4);
		out->key.dport = pp_be16(l4 + 2);
		out->tcp_flags = l4[PP_TCP_FLAGS_BYTE];
	} else if (proto == PP_IPPROTO_UDP || proto == PP_IPPROTO_UDPLITE) {
		if (l4 + PP_UDP_HLEN > data_end)
			return PP_CNT_ERR_L4_TRUNC;
		out->key.sport = pp_be16(l4);
		out->key.dport = pp_be16(l4 + 2);
	} else if (proto == PP_IPPROTO_SCTP) {
		if (l4 + 12 > data_end) /* common header */
			return PP_CNT_ERR_L4_TRUNC;
		out->key.sport = pp_be16(l4);
		out->key.dport = pp_be16(l4 + 2);
	} else if (proto == PP_IPPROTO_ICMP || proto == PP_IPPROTO_ICMPV6) {
		if (l4 + 8 > data_end)
			return PP_CNT_ERR_L4_TRUNC;
		__u8 type = l4[0];
		int echo =
			proto == PP_IPPROTO_ICMP
				? (type == PP_ICMP_ECHO || type == PP_ICMP_ECHO_REPLY)
				: (type == PP_ICMPV6_ECHO_REQUEST || type == PP_ICMPV6_ECHO_REPLY);
		out->key.sport = echo ? pp_be16(l4 + 4) : 0;
		out->key.dport = (__u16)((__u16)type << 8 | l4[1]);
	}
	/* Any other protocol: counted by protocol number, ports 0. */
	return 0;
}

static __always_inline int pp_parse_ipv4(const __u8 *data, const __u8 *ip, const __u8 *data_end,
					 struct pp_parsed *out)
{
	if (ip + 20 > data_end)
		return PP_CNT_ERR_IPV4_TRUNC;
	__u8 ihl = ip[0] & 0x0f;
	if ((ip[0] >> 4) != 4 || ihl < 5)
		return PP_CNT_ERR_IPV4_HDR;
	const __u8 *l4 = ip + ihl * 4;
	if (l4 > data_end) /* options cut off */
		return PP_CNT_ERR_IPV4_TRUNC;

	out->key.proto = ip[9];
	pp_set_v4mapped(out->key.saddr, ip + 12);
	pp_set_v4mapped(out->key.daddr, ip + 16);
	if (pp_be16(ip + 6) & 0x1fff) {
		/* Non-first fragment: its payload is not an L4 header. */
		out->key.flags |= PP_KEY_F_FRAGMENT;
		return 0;
	}
	out->l4_off = (__u32)(l4 - data);
	return pp_parse_l4(l4, data_end, out);
}

static __always_inline int pp_parse_ipv6(const __u8 *data, const __u8 *ip, const __u8 *data_end,
					 struct pp_parsed *out)
{
	if (ip + 40 > data_end)
		return PP_CNT_ERR_IPV6_TRUNC;
	if ((ip[0] >> 4) != 6)
		return PP_CNT_ERR_IPV6_HDR;
	out->key.flags |= PP_KEY_F_IPV6;
	pp_copy_addr6(out->key.saddr, ip + 8);
	pp_copy_addr6(out->key.daddr, ip + 24);

	__u8 nh = ip[6];
	const __u8 *p = ip + 40;
	int done = 0;

#pragma unroll
	for (int i = 0; i < PP_IPV6_EXT_MAX; i++) {
		if (nh == PP_IPPROTO_HOPOPTS || nh == PP_IPPROTO_ROUTING ||
		    nh == PP_IPPROTO_DSTOPTS) {
			if (p + 8 > data_end)
				return PP_CNT_ERR_IPV6_TRUNC;
			nh = p[0];
			p += ((__u32)p[1] + 1) * 8;
		} else if (nh == PP_IPPROTO_AH) {
			if (p + 8 > data_end)
				return PP_CNT_ERR_IPV6_TRUNC;
			nh = p[0];
			p += ((__u32)p[1] + 2) * 4;
		} else if (nh == PP_IPPROTO_FRAGMENT) {
			if (p + 8 > data_end)
				return PP_CNT_ERR_IPV6_TRUNC;
			nh = p[0];
			if (pp_be16(p + 2) & 0xfff8) {
				out->key.proto = nh;
				out->key.flags |= PP_KEY_F_FRAGMENT;
				return 0;
			}
			p += 8;
		} else {
			done = 1;
			break;
		}
	}
	if (!done)
		return PP_CNT_ERR_IPV6_EXT_DEPTH;
	if (p > data_end)
		return PP_CNT_ERR_IPV6_TRUNC;
	out->key.proto = nh;
	out->l4_off = (__u32)(p - data);
	return pp_parse_l4(p, data_end, out);
}

/*
 * Parses one frame. Returns 0 when `out` holds a flow key, PP_CNT_NON_IP for
 * frames that are not IP, or the pp_counter of the parse error.
 */
static __always_inline int pp_parse(const __u8 *data, const __u8 *data_end, struct pp_parsed *out)
{
	if (data + PP_ETH_HLEN > data_end)
		return PP_CNT_ERR_ETH_TRUNC;
	__u16 proto = pp_be16(data + 12);
	const __u8 *l3 = data + PP_ETH_HLEN;

#pragma unroll
	for (int i = 0; i < PP_VLAN_MAX; i++) {
		if (proto != PP_ETH_P_8021Q && proto != PP_ETH_P_8021AD)
			break;
		if (l3 + 4 > data_end)
			return PP_CNT_ERR_VLAN_TRUNC;
		proto = pp_be16(l3 + 2);
		l3 += 4;
	}
	if (proto == PP_ETH_P_8021Q || proto == PP_ETH_P_8021AD)
		return PP_CNT_ERR_VLAN_DEPTH;

	if (proto == PP_ETH_P_IP)
		return pp_parse_ipv4(data, l3, data_end, out);
	if (proto == PP_ETH_P_IPV6)
		return pp_parse_ipv6(data, l3, data_end, out);
	return PP_CNT_NON_IP;
}

/* Headers are at most this far into the packet when GSO header bytes are computed. */
#define PP_GSO_MAX_L4_OFF 240

#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

/*
 * Bytes of the headers every segment of a GSO/GRO skb repeats (from `data`, so L2
 * included when the parse started there, + IP + L4), so that a super-packet of N
 * segments counts the bytes N wire packets carry. 0 if unknown.
 */
static __always_inline __u32 pp_gso_header_bytes(const __u8 *data, const __u8 *data_end,
						 const struct pp_parsed *p)
{
	if (p->l4_off == 0 || p->l4_off > PP_GSO_MAX_L4_OFF)
		return 0;
	/* The compiler may turn the range check into one the verifier cannot use; the
	 * mask after the barrier keeps the offset visibly bounded. */
	__u32 off = p->l4_off;
	barrier_var(off);
	off &= 0xff;

	if (p->key.proto == PP_IPPROTO_TCP) {
		const __u8 *l4 = data + off;
		if (l4 + (PP_TCP_DOFF_BYTE + 1) > data_end)
			return 0;
		return off + pp_tcp_header_len(l4);
	}
	if (p->key.proto == PP_IPPROTO_UDP || p->key.proto == PP_IPPROTO_UDPLITE)
		return off + PP_UDP_HLEN;
	return off;
}

/*
 * Parses a packet that starts at its IP header, as cgroup_skb programs see it (no L2
 * header). `ethertype` (host byte order, from skb->protocol) says which IP version to
 * expect; results and error codes are those of pp_parse after the Ethernet header.
 */
static __always_inline int pp_parse_l3(const __u8 *data, const __u8 *data_end, __u16 ethertype,
				       struct pp_parsed *out)
{
	if (ethertype == PP_ETH_P_IP)
		return pp_parse_ipv4(data, data, data_end, out);
	if (ethertype == PP_ETH_P_IPV6)
		return pp_parse_ipv6(data, data, data_end, out);
	return PP_CNT_NON_IP;
}

#endif /* PODPATH_PARSE_BPF_H */

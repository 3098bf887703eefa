// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ct_lookup: for scripts/bench, the NAT-following candidate podpath did not take
 * (docs/services.md): the bpf_skb_ct_lookup kfunc, called by the IPv4 TCP/UDP tuple of the
 * packet in the current network namespace, the entry released when found. Hook: TC. Counts
 * the lookups that found an entry (pp_bench_ct_found) so the benchmark knows which case it
 * measured; returns TC_ACT_UNSPEC.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define PP_BENCH_ETH_P_IP 0x0800
#define PP_BENCH_CURRENT_NETNS (-1)

/* The 12-byte layout every kernel with the kfunc accepts (6.1 on; later ones also take 16). */
struct bpf_ct_opts___pp {
  s32 netns_id;
  s32 error;
  u8 l4proto;
  u8 dir;
  u8 reserved[2];
};

extern struct nf_conn* bpf_skb_ct_lookup(struct __sk_buff* skb, struct bpf_sock_tuple* tuple, u32 tuple_sz,
                                         struct bpf_ct_opts___pp* opts, u32 opts_sz) __ksym;
extern void bpf_ct_release(struct nf_conn* ct) __ksym;

__u64 pp_bench_ct_found = 0;

SEC("tc")
int pp_tc_bench_ct_lookup(struct __sk_buff* skb) {
  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  struct iphdr* ip = (void*)(eth + 1);
  __be16* ports = (void*)(ip + 1);

  if ((void*)(ports + 2) > end || eth->h_proto != bpf_htons(PP_BENCH_ETH_P_IP) || ip->ihl != 5) return -1;
  if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP) return -1;

  struct bpf_sock_tuple tuple = {};
  tuple.ipv4.saddr = ip->saddr;
  tuple.ipv4.daddr = ip->daddr;
  tuple.ipv4.sport = ports[0];
  tuple.ipv4.dport = ports[1];
  struct bpf_ct_opts___pp opts = {.netns_id = PP_BENCH_CURRENT_NETNS, .l4proto = ip->protocol};
  struct nf_conn* ct = bpf_skb_ct_lookup(skb, &tuple, sizeof(tuple.ipv4), &opts, sizeof(opts));
  if (ct) {
    __sync_fetch_and_add(&pp_bench_ct_found, 1);
    bpf_ct_release(ct);
  }
  return -1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

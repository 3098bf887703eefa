#pragma once
/// @file
/// @brief Kernel feature probes: what this kernel lets podpath do, and what to tell the
/// user when it cannot.

#include <string>
#include <vector>

namespace podpath::bpf {

/// @brief How a TC program learns which network namespace a packet is in.
/// (bpf_get_netns_cookie(skb) is no use here: in TC programs it reports the namespace
/// of skb->sk, or init_net when there is no socket, i.e. for every forwarded packet.)
enum class NetnsIdMode {
  KernCtx,  ///< bpf_cast_to_kern_ctx + CO-RE read of skb->dev->nd_net (Linux 6.3+): one object
  Fixed,    ///< the cookie is a load-time constant: one object per namespace, maps shared
};

/// @brief The result of probing the running kernel.
struct Features {
  std::string kernel_release;
  bool is_root = false;
  bool cap_bpf = false;  ///< CAP_BPF (or CAP_SYS_ADMIN)
  bool cap_net_admin = false;
  bool cap_sys_admin = false;
  bool cap_net_raw = false;   ///< CAP_NET_RAW: check's ICMP probes use a raw socket  ///< CAP_SYS_ADMIN:
                              ///< setns() into another network namespace needs it
  bool cap_perfmon = false;   ///< CAP_PERFMON (or CAP_SYS_ADMIN)
  bool btf = false;           ///< /sys/kernel/btf/vmlinux readable
  bool bpffs = false;         ///< a bpf filesystem is mounted
  std::string cgroup2_mount;  ///< empty if cgroup v2 is not mounted
  bool ringbuf = false;       ///< BPF_MAP_TYPE_RINGBUF
  bool lpm_trie = false;
  bool coarse_clock = false;  ///< bpf_ktime_get_coarse_ns (Linux 5.11+)
  bool tcx = false;           ///< tcx attachment (Linux 6.6+)
  NetnsIdMode netns_id = NetnsIdMode::Fixed;
  /// @brief NAT can be followed: KernCtx mode, bpf_rdonly_cast and conntrack's struct nf_conn
  /// in the kernel's own BTF (not a module's). Without it, flows before and after a Service's
  /// DNAT show as two conversations.
  bool nat = false;
  bool tracefs = false;  ///< /sys/kernel/tracing (or debugfs tracing) mounted
  /// @brief BPF map-element iterators (Linux 5.9+, with BTF): a refresh reads only the flow
  /// entries that changed. Without them every entry is read with batch lookups.
  bool map_iterator = false;
  /// @brief Syscall programs with bpf_loop (Linux 5.17+): a refresh looks the changed flow
  /// entries up in batches (kernel_has_batch_lookup()). Without them, a syscall per entry.
  bool batch_lookup = false;
};

/// @brief True when the kernel's BTF has a function (kfunc) of this name.
bool kernel_has_kfunc(const char* name);
/// @brief True when the kernel's own BTF (vmlinux, not a module's) has a struct of this name.
bool kernel_has_struct(const char* name);

/// @brief Probes the kernel (loads tiny programs where needed; attaches nothing).
Features probe_features();

/// @brief One line per kernel feature that blocks podpath's datapath (BTF, LPM tries, ring
/// buffers), each saying what to do; capabilities are not judged here.
std::vector<std::string> kernel_problems(const Features& f);

/// @brief One line per feature that blocks podpath, each saying what to do; empty = ready.
std::vector<std::string> blocking_problems(const Features& f);

const char* to_string(NetnsIdMode mode);

}  // namespace podpath::bpf

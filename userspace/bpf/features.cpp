#include "bpf/features.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <net/if.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "bpf/batch_lookup.hpp"
#include "bpf/handles.hpp"
#include "util/system.hpp"

namespace podpath::bpf {
namespace {

// Not in Debian 12's UAPI headers (Linux 6.1); values from Linux 6.6 include/uapi/linux/bpf.h.
constexpr int kBpfTcxIngress = 46;
#ifndef CAP_BPF
constexpr int CAP_BPF = 39;
#endif
#ifndef CAP_PERFMON
constexpr int CAP_PERFMON = 38;
#endif

bool probe_tcx() {
  // Read-only: asking for tcx programs on lo fails with EINVAL where tcx does not exist.
  const auto lo = if_nametoindex("lo");
  if (lo == 0) return false;
  __u32 count = 0;
  LIBBPF_OPTS(bpf_prog_query_opts, opts, .prog_cnt = count);
  return bpf_prog_query_opts(static_cast<int>(lo), static_cast<bpf_attach_type>(kBpfTcxIngress), &opts) == 0;
}

}  // namespace

bool kernel_has_kfunc(const char* name) {
  const BtfPtr vmlinux = load_vmlinux_btf();
  if (!vmlinux) return false;
  return btf__find_by_name_kind(vmlinux.get(), name, BTF_KIND_FUNC) > 0;
}

bool kernel_has_struct(const char* name) {
  const BtfPtr vmlinux = load_vmlinux_btf();
  if (!vmlinux) return false;
  return btf__find_by_name_kind(vmlinux.get(), name, BTF_KIND_STRUCT) > 0;
}

Features probe_features() {
  Features f;
  f.kernel_release = kernel_release();
  f.is_root = geteuid() == 0;
  const bool sys_admin = has_capability(CAP_SYS_ADMIN);
  f.cap_sys_admin = sys_admin;
  f.cap_net_raw = has_capability(CAP_NET_RAW);
  f.cap_bpf = has_capability(CAP_BPF) || sys_admin;
  f.cap_perfmon = has_capability(CAP_PERFMON) || sys_admin;
  f.cap_net_admin = has_capability(CAP_NET_ADMIN);
  f.btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
  f.bpffs = find_mount("bpf").has_value();
  if (auto cg = find_mount("cgroup2")) f.cgroup2_mount = cg->string();
  f.tracefs = std::filesystem::exists("/sys/kernel/tracing/events") ||
              std::filesystem::exists("/sys/kernel/debug/tracing/events");
  if (f.cap_bpf) {
    f.ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
    f.lpm_trie = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_LPM_TRIE, nullptr) == 1;
    if (f.btf && kernel_has_kfunc("bpf_cast_to_kern_ctx")) f.netns_id = NetnsIdMode::KernCtx;
    f.nat = f.netns_id == NetnsIdMode::KernCtx && kernel_has_kfunc("bpf_rdonly_cast") &&
            kernel_has_struct("nf_conn");
    f.tcx = probe_tcx();
    f.map_iterator = f.btf && kernel_has_struct("bpf_iter__bpf_map_elem");
    f.batch_lookup = kernel_has_batch_lookup();
    f.coarse_clock =
        libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_ktime_get_coarse_ns, nullptr) == 1;
  }
  return f;
}

std::vector<std::string> kernel_problems(const Features& f) {
  std::vector<std::string> out;
  if (!f.btf) {
    out.emplace_back(
        "this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): podpath's CO-RE programs need a "
        "kernel built with CONFIG_DEBUG_INFO_BTF=y (default on Debian 11+, Ubuntu 20.10+, RHEL 8.2+)");
  }
  if (f.cap_bpf && !f.lpm_trie) out.emplace_back("this kernel lacks BPF LPM tries (Linux 4.11+ needed)");
  if (f.cap_bpf && !f.ringbuf) out.emplace_back("this kernel lacks BPF ring buffers (Linux 5.8+ needed)");
  return out;
}

std::vector<std::string> blocking_problems(const Features& f) {
  std::vector<std::string> out;
  if (!f.cap_bpf || !f.cap_net_admin) {
    out.emplace_back(
        "podpath needs CAP_BPF and CAP_NET_ADMIN (CAP_SYS_ADMIN on kernels before 5.8): run it as root, "
        "or grant them (e.g. securityContext.capabilities.add in the DaemonSet)");
  }
  for (auto& p : kernel_problems(f)) out.push_back(std::move(p));
  return out;
}

const char* to_string(NetnsIdMode mode) { return mode == NetnsIdMode::KernCtx ? "kern-ctx" : "fixed"; }

}  // namespace podpath::bpf

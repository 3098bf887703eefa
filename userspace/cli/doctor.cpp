// `podpath doctor`: can podpath run here, and in which mode?
#include "cli/doctor.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <ostream>

#include "bpf/cgroup_datapath.hpp"
#include "cli/command.hpp"
#include "cli/live.hpp"
#include "inventory/source.hpp"
#include "util/text.hpp"

namespace podpath::cli {

std::vector<CommandReadiness> command_readiness(const bpf::Features& f) {
  // The sentences name the capability and what it is for; each command lists what it lacks.
  const std::string enter_lab =
      "CAP_SYS_ADMIN is missing: entering a lab node's network namespace (--lab, --inventory) needs it";
  const std::string enter_pod = "CAP_SYS_ADMIN is missing: probes are sent from inside the source pod's "
                                "network namespace, and entering "
                                "it needs CAP_SYS_ADMIN";
  const auto datapath = [&] {
    std::vector<std::string> m;
    if (!f.cap_bpf) m.emplace_back("CAP_BPF is missing: loading programs and maps needs it");
    if (!f.cap_net_admin) m.emplace_back("CAP_NET_ADMIN is missing: attaching to interfaces needs it");
    for (auto& p : bpf::kernel_problems(f)) m.push_back(std::move(p));
    return m;
  };
  std::vector<CommandReadiness> out;
  out.push_back({"pods", {}});
  CommandReadiness routes{"routes", {}};
  if (!f.cap_sys_admin) routes.missing.push_back(enter_lab);
  out.push_back(std::move(routes));
  CommandReadiness live{"trace, paths, matrix, debug dump", datapath()};
  if (!f.cap_sys_admin) live.missing.push_back(enter_lab);
  out.push_back(live);
  CommandReadiness check{"check", datapath()};
  if (!f.cap_sys_admin) check.missing.push_back(enter_pod);
  if (!f.cap_net_raw) check.missing.emplace_back("CAP_NET_RAW is missing: the ICMP probes use a raw socket");
  if (!f.cap_perfmon) {
    check.missing.emplace_back("CAP_PERFMON is missing: tracing kernel drops (kfree_skb) needs it");
  }
  out.push_back(std::move(check));
  CommandReadiness shared{"shared-ip", datapath()};
  if (!f.is_root) shared.missing.emplace_back("not root: attaching programs to cgroups needs root");
  if (f.cgroup2_mount.empty()) shared.missing.emplace_back("cgroup v2 is not mounted");
  if (!f.cap_sys_admin) {
    shared.missing.emplace_back(
        "CAP_SYS_ADMIN is missing: --probe enters each container's network namespace");
  }
  out.push_back(std::move(shared));
  return out;
}

namespace {

class DoctorCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand(
        "doctor",
        "Check this machine for what each podpath command needs (capabilities, BTF, BPF features) and say "
        "what to fix.\n"
        "Also says where pod names come from (inventory file or lab, Kubernetes API, local discovery) and "
        "why\n"
        "each other source is not used. Exit code 0 when every command can run, 1 when something blocks one "
        "of them.");
    cluster_.add_to(*sub, /*with_node=*/true);
    return sub;
  }

  int run(Io& io) override {
    const auto f = bpf::probe_features();
    auto row = [&](const char* what, bool ok, const std::string& detail) {
      io.out << fmt::format("  {:<28} {:<4} {}\n", what, ok ? "ok" : "no", detail);
    };
    io.out << fmt::format("podpath doctor — kernel {}\n", f.kernel_release);
    row("root", f.is_root, "shared-ip");
    row("CAP_BPF", f.cap_bpf, "load programs and maps");
    row("CAP_NET_ADMIN", f.cap_net_admin, "attach to interfaces");
    row("CAP_SYS_ADMIN", f.cap_sys_admin, "enter lab and pod network namespaces");
    row("CAP_NET_RAW", f.cap_net_raw, "ICMP probes (podpath check)");
    row("CAP_PERFMON", f.cap_perfmon, "drop tracing (podpath check)");
    row("kernel BTF", f.btf, "/sys/kernel/btf/vmlinux (CO-RE)");
    row("BPF LPM trie", f.lpm_trie, "CIDR classification");
    row("BPF ring buffer", f.ringbuf, "new-flow events");
    row("tcx attachment", f.tcx, f.tcx ? "used for TC hooks" : "classic TC clsact used instead");
    row("netns id in TC", f.netns_id == bpf::NetnsIdMode::KernCtx,
        f.netns_id == bpf::NetnsIdMode::KernCtx
            ? "from skb->dev (bpf_cast_to_kern_ctx): one BPF object for all namespaces"
            : "kernel < 6.3: one BPF object per observed namespace");
    row("NAT following", f.nat,
        f.nat ? "conntrack's translations (Services) joined into one conversation (skb->_nfct)"
              : "needs Linux 6.3+ with conntrack built in: Service traffic shows before and after the DNAT");
    row("BPF map iterator", f.map_iterator,
        f.map_iterator ? "refreshes read only the flow entries that changed"
                       : "needs Linux 5.9+ with BTF: every refresh reads every flow entry (batch lookups)");
    row("BPF batch lookup", f.batch_lookup,
        f.batch_lookup
            ? "a refresh looks changed flow entries up 4096 at a time (syscall program, bpf_loop)"
            : "needs Linux 5.17+: a refresh looks each changed flow entry up with its own syscall");
    row("cgroup v2", !f.cgroup2_mount.empty(),
        f.cgroup2_mount.empty() ? "not mounted: no per-container attribution" : f.cgroup2_mount);
    if (f.cap_bpf) {
      const auto cg = bpf::probe_cgroup_features();
      const auto cg_problems = bpf::cgroup_blocking_problems(cg);
      const auto limit = bpf::netns_mode_limitation(cg.best_netns_mode());
      row("container attribution", cg_problems.empty(),
          !cg_problems.empty() ? cg_problems.front()
          : limit.empty()      ? "cgroup_skb per container, with the socket's namespace"
                               : limit);
    }
    row("bpffs", f.bpffs, "/sys/fs/bpf");
    row("tracefs", f.tracefs, f.tracefs ? "tracepoints" : "mount -t tracefs nodev /sys/kernel/tracing");
    io.out << "inventory sources, in order (the first that works is used):\n";
    for (const auto& source : inventory::explain_sources(cluster_.source())) {
      // The details quote kubeconfigs and API servers' answers: others' text.
      io.out << fmt::format("  {:<28} {:<4} {}\n", inventory::to_string(source.origin),
                            source.used ? "used" : "no", printable(source.detail));
    }
    io.out << "\n";
    bool all = true;
    for (const auto& c : command_readiness(f)) {
      if (c.missing.empty()) {
        io.out << fmt::format("ready:   {}\n", c.commands);
        continue;
      }
      all = false;
      io.out << fmt::format("blocked: {}\n", c.commands);
      for (const auto& m : c.missing) io.out << "         - " << m << "\n";
    }
    if (all) {
      io.out << "ready: every podpath command can run here\n";
      return kExitOk;
    }
    return kExitNegative;
  }

 private:
  ClusterFlags cluster_;
};

}  // namespace

std::unique_ptr<Command> make_doctor_command() { return std::make_unique<DoctorCommand>(); }

}  // namespace podpath::cli

// `podpath doctor`: can podpath run here, and in which mode?
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <ostream>

#include "bpf/cgroup_datapath.hpp"
#include "bpf/features.hpp"
#include "cli/command.hpp"
#include "cli/live.hpp"
#include "inventory/source.hpp"

namespace podpath::cli {
namespace {

class DoctorCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand(
        "doctor",
        "Check this machine for what podpath needs (privileges, BTF, BPF features) and say what to fix.\n"
        "Also says where pod names come from (inventory file or lab, Kubernetes API, local discovery) and "
        "why\n"
        "each other source is not used. Exit code 0 when podpath can run, 1 when something blocks it.");
    cluster_.add_to(*sub, /*with_node=*/true);
    return sub;
  }

  int run(Io& io) override {
    const auto f = bpf::probe_features();
    auto row = [&](const char* what, bool ok, const std::string& detail) {
      io.out << fmt::format("  {:<28} {:<4} {}\n", what, ok ? "ok" : "no", detail);
    };
    io.out << fmt::format("podpath doctor — kernel {}\n", f.kernel_release);
    row("root", f.is_root, "");
    row("CAP_BPF", f.cap_bpf, "load programs and maps");
    row("CAP_NET_ADMIN", f.cap_net_admin, "attach to interfaces");
    row("CAP_PERFMON", f.cap_perfmon, "drop tracing (podpath check)");
    row("kernel BTF", f.btf, "/sys/kernel/btf/vmlinux (CO-RE)");
    row("BPF LPM trie", f.lpm_trie, "CIDR classification");
    row("BPF ring buffer", f.ringbuf, "new-flow events");
    row("tcx attachment", f.tcx, f.tcx ? "used for TC hooks" : "classic TC clsact used instead");
    row("netns id in TC", f.netns_id == bpf::NetnsIdMode::KernCtx,
        f.netns_id == bpf::NetnsIdMode::KernCtx
            ? "from skb->dev (bpf_cast_to_kern_ctx): one BPF object for all namespaces"
            : "kernel < 6.3: one BPF object per observed namespace");
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
      io.out << fmt::format("  {:<28} {:<4} {}\n", inventory::to_string(source.origin),
                            source.used ? "used" : "no", source.detail);
    }
    const auto problems = bpf::blocking_problems(f);
    if (problems.empty()) {
      io.out << "ready: podpath can run here\n";
      return kExitOk;
    }
    for (const auto& p : problems) io.out << "blocked: " << p << "\n";
    return kExitNegative;
  }

 private:
  ClusterFlags cluster_;
};

}  // namespace

std::unique_ptr<Command> make_doctor_command() { return std::make_unique<DoctorCommand>(); }

}  // namespace podpath::cli

// `podpath shared-ip POD`: do all containers of a pod really share the pod's IP? Counts each
// container's traffic by its cgroup (cgroup_skb programs) and checks that every container
// that sent anything used the pod IP from the pod's network namespace (check/shared_ip.hpp).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <chrono>
#include <ostream>

#include "check/probe.hpp"
#include "check/shared_ip.hpp"
#include "cli/command.hpp"
#include "cli/live.hpp"
#include "inventory/source.hpp"
#include "output/shared_ip_view.hpp"
#include "util/result.hpp"
#include "util/text.hpp"

namespace podpath::cli {
namespace {

class SharedIpCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand(
        "shared-ip",
        "Check that all containers of a pod share the pod's IP, as the Kubernetes network model promises.\n"
        "podpath counts every container's traffic by its cgroup for --duration seconds and shows, per\n"
        "container, the network namespace it runs in, the local IPs its traffic used and the packets and "
        "bytes.\n"
        "PASS: every container that sent traffic used the pod IP from the pod's network namespace.\n"
        "FAIL: names each container that used another IP or namespace (a sidecar on the host network,\n"
        "a container in a namespace of its own). Containers that stayed quiet are 'no traffic seen';\n"
        "--probe makes each of them open one TCP connection (to the pod IP) from inside its own cgroup\n"
        "and network namespace, so that every container is checked.\n"
        "Exit code: 0 PASS, 1 FAIL (or no container sent anything), 2 error. Needs root.");
    sub->add_option("POD", pod_, "The pod: namespace/name, or name when unambiguous");
    sub->add_flag("--all", all_, "Check every pod of the cluster");
    cluster_.add_to(*sub, /*with_node=*/true);
    sub->add_option("--duration", duration_s_,
                    "Seconds to watch (default 10, or 1 with --probe); Ctrl-C stops early and reports")
        ->check(CLI::Range(0.1, 3600.0));
    sub->add_flag("--probe", probe_, "Make each container open one connection so that none stays unchecked");
    sub->add_option("--probe-port", probe_port_, "TCP port the probe connects to on the pod IP")
        ->check(CLI::Range(1, 65535))
        ->capture_default_str();
    sub->add_option("--cgroup", cgroup_,
                    "Cgroup to attach to (default: the lab's cgroup root, else the kubepods cgroup)");
    add_output_option(*sub, format_);
    add_ready_file_option(*sub, ready_file_);
    return sub;
  }

  int run(Io& io) override {
    if (all_ == !pod_.empty()) throw UserError("name one POD (namespace/name or name), or give --all");
    auto loaded = inventory::load_cluster(cluster_.source());
    if (!loaded) throw UserError(loaded.error().to_string());
    const auto cluster = std::make_shared<const model::Cluster>(std::move(loaded->cluster));
    auto pods = inventory::select_pods(*cluster, pod_, all_);
    if (!pods) throw UserError(pods.error().to_string());
    auto watch = check::SharedIpWatch::start(cluster, *pods, cgroup_);
    if (!watch) throw UserError(watch.error().to_string());

    const double duration = duration_s_ > 0 ? duration_s_ : (probe_ ? 1.0 : 10.0);
    const StopOnSignal stop;
    io.err << fmt::format("podpath shared-ip: watching {} container(s) of {} pod(s) for {} s (cgroup {}, "
                          "namespace mode {}); Ctrl-C stops early\n",
                          (*watch)->targets().size(), (*watch)->pod_count(), duration,
                          (*watch)->attach_cgroup().string(), (*watch)->namespace_mode());
    io.err.flush();
    write_ready_file(ready_file_, "");
    const auto started = std::chrono::steady_clock::now();
    if (probe_) {
      for (const auto& failure : (*watch)->probe(static_cast<std::uint16_t>(probe_port_)))
        io.err << "podpath shared-ip: " << printable(failure) << "\n";
    }
    (*watch)->wait_until(started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                       std::chrono::duration<double>(duration)),
                         stop.flag());
    auto report = (*watch)->finish(duration);
    if (!report) throw UserError(report.error().to_string());

    if (format_ == "json") {
      io.out << json_text(output::shared_ip_to_json(*report), 2) << "\n";
    } else {
      io.out << output::render_shared_ip(*report, *cluster);
    }
    return report->verdict == inventory::Verdict::Pass ? kExitOk : kExitNegative;
  }

 private:
  std::string pod_;
  bool all_ = false;
  ClusterFlags cluster_;
  double duration_s_ = 0;
  bool probe_ = false;
  int probe_port_ = check::kDiscardPort;
  std::string cgroup_;
  std::string format_ = "table";
  std::string ready_file_;
};

}  // namespace

std::unique_ptr<Command> make_shared_ip_command() { return std::make_unique<SharedIpCommand>(); }

}  // namespace podpath::cli

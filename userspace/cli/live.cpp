#include "cli/live.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

#include "util/result.hpp"
#include "util/system.hpp"

namespace podpath::cli {
namespace {

std::atomic<bool> g_stop{false};

void on_stop_signal(int /*signo*/) { g_stop.store(true); }

}  // namespace

void ClusterFlags::add_to(CLI::App& sub, bool with_node) {
  auto* inv = sub.add_option("--inventory", inventory, "Lab inventory file to read (docs/inventory.md)");
  auto* lb = sub.add_option("--lab", lab, "The running lab with this name (scripts/lab up --name NAME)");
  auto* kc = sub.add_option("--kubeconfig", kubeconfig,
                            "Names from the Kubernetes API this kubeconfig points at (default without a lab: "
                            "$KUBECONFIG, in-cluster, ~/.kube/config; docs/kubernetes.md)");
  sub.add_option("--pod-grace", pod_grace_s,
                 "Kubernetes API: seconds a deleted pod keeps its name for flows that outlive it")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  if (with_node) {
    sub.add_option(
        "--node", node,
        "Kubernetes API: the node this host is (default: the node named like the hostname, else the "
        "one with an address of this host)");
  }
  inv->excludes(lb);
  inv->excludes(kc);
  lb->excludes(kc);
}

inventory::ClusterSourceOptions ClusterFlags::source(const std::vector<std::string>& node_hint) const {
  inventory::ClusterSourceOptions s;
  if (!inventory.empty()) s.inventory_file = inventory;
  if (!lab.empty()) s.lab = lab;
  if (!kubeconfig.empty()) s.kube.kubeconfig = kubeconfig;
  s.kube.pod_grace = std::chrono::seconds(static_cast<long>(pod_grace_s));
  if (!node.empty()) {
    s.kube.node = node;
  } else if (node_hint.size() == 1 && !node_hint.front().empty()) {
    s.kube.node = node_hint.front();
  }
  return s;
}

void AttachFlags::add_to(CLI::App& sub, bool with_node) {
  cluster.add_to(sub, with_node);
  sub.add_option("--bridge", bridge, "Pod bridge to attach to (default: the inventory's, else cbr0 or cni0)");
  sub.add_option("--uplink", uplink,
                 "Node uplink to attach to (default: the interface of the default route)");
  sub.add_option("--iface", ifaces,
                 "Also attach to interfaces matching this glob (repeatable), e.g. 'vxlan*'");
  sub.add_option("--attach", attach, "TC hook: tcx (Linux 6.6+, runs first), clsact (classic), or auto")
      ->check(CLI::IsMember({"auto", "tcx", "clsact"}))
      ->capture_default_str();
  sub.add_option(
         "--netns-mode", netns_mode,
         "How programs tell namespaces apart: kern-ctx (Linux 6.3+, one program), fixed (one program per "
         "namespace), or auto")
      ->check(CLI::IsMember({"auto", "kern-ctx", "fixed"}))
      ->capture_default_str();
  sub.add_option(
         "--tc-priority", tc_priority,
         "Classic TC filter priority podpath owns (default 28784); podpath never touches other filters")
      ->check(CLI::Range(1, 65535));
  sub.add_option("--max-flows", max_flows,
                 "Flow entries each kernel flows map holds, IPv4 and IPv6 (point x flow direction). Kernel "
                 "memory, reserved at start: about 300 B per entry for the two maps, plus a change log of "
                 "14 B per entry rounded up to a power of two (1 MiB at 65536)")
      ->check(CLI::Range(16, 16 * 1024 * 1024))
      ->capture_default_str();
  sub.add_option("--idle-timeout", idle_timeout_s, "Seconds without packets before a flow is dropped")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
}

loader::SessionOptions AttachFlags::session_options(const std::vector<std::string>& node_hint) const {
  loader::SessionOptions o;
  o.source = cluster.source(node_hint);
  o.bridge = bridge;
  o.uplink = uplink;
  o.extra = ifaces;
  if (attach == "tcx") o.loader.attach_mode = bpf::AttachMode::Tcx;
  if (attach == "clsact") o.loader.attach_mode = bpf::AttachMode::Clsact;
  if (netns_mode == "kern-ctx") o.loader.netns_mode = bpf::NetnsIdMode::KernCtx;
  if (netns_mode == "fixed") o.loader.netns_mode = bpf::NetnsIdMode::Fixed;
  if (tc_priority != 0) o.loader.slot.priority = static_cast<std::uint16_t>(tc_priority);
  o.loader.datapath.max_flows = max_flows;
  o.loader.cancel = &g_stop;  // a signal interrupts attaching (StopOnSignal)
  o.aggregator.idle_timeout_ns = static_cast<std::uint64_t>(idle_timeout_s * 1e9);
  return o;
}

StopOnSignal::StopOnSignal() {
  g_stop.store(false);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking waits return EINTR at once
  for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &sa, &old_[i]);
}

StopOnSignal::~StopOnSignal() {
  for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &old_[i], nullptr);
}

void request_stop() { g_stop.store(true); }

const std::atomic<bool>& StopOnSignal::flag() const { return g_stop; }

std::unique_ptr<loader::Session> start_session(const loader::SessionOptions& options) {
  auto session = loader::Session::start(options);
  if (!session) throw UserError(session.error().to_string());
  return std::move(*session);
}

std::unique_ptr<loader::Session> start_session(const AttachFlags& flags) {
  return start_session(flags.session_options());
}

void write_ready_file(const std::string& path, const std::string& detail) {
  if (path.empty()) return;
  const std::string line = detail.empty() ? "ready\n" : "ready " + detail + "\n";
  if (auto r = write_file_atomically(path, line); !r) {
    throw UserError(fmt::format("cannot write --ready-file {}: {}", path, r.error().to_string()));
  }
}

void add_output_option(CLI::App& sub, std::string& format, const std::string& help) {
  sub.add_option("--output,-o", format, help)->check(CLI::IsMember({"table", "json"}))->capture_default_str();
}

void add_ready_file_option(CLI::App& sub, std::string& path) {
  sub.add_option("--ready-file", path,
                 "Write 'ready' to this file once podpath is watching (for scripts that start traffic then)");
}

void observe_for(loader::Session& session, double seconds, const StopOnSignal& stop) {
  if (auto r = session.wait(std::chrono::milliseconds(static_cast<long>(seconds * 1000)), stop.flag()); !r) {
    throw UserError(r.error().to_string());
  }
}

}  // namespace podpath::cli

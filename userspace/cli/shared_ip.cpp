// `podpath shared-ip POD`: do all containers of a pod really share the pod's IP? Counts each
// container's traffic by its cgroup (cgroup_skb programs) and checks that every container
// that sent anything used the pod IP from the pod's network namespace.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <thread>

#include "bpf/cgroup_datapath.hpp"
#include "cli/command.hpp"
#include "cli/live.hpp"
#include "inventory/cgroup_path.hpp"
#include "inventory/container_attribution.hpp"
#include "inventory/container_index.hpp"
#include "inventory/shared_ip.hpp"
#include "inventory/source.hpp"
#include "loader/container_tracker.hpp"
#include "net/netns.hpp"
#include "util/result.hpp"

namespace podpath::cli {
namespace {

namespace fs = std::filesystem;
using inventory::ContainerRef;

constexpr int kProbeTimeoutMs = 2000;

/// One container to check, with where to find it.
struct Target {
  const model::Pod* pod = nullptr;
  ContainerRef ref;
  int pid = 0;  ///< a process of the container (root PID namespace); 0 = none found
};

/// The first process of a cgroup (or of a cgroup nested in it).
int first_pid_of(const fs::path& cgroup) {
  std::error_code ec;
  if (std::ifstream in(cgroup / "cgroup.procs"); in) {
    int pid = 0;
    if (in >> pid && pid > 0) return pid;
  }
  for (fs::recursive_directory_iterator it(cgroup, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_directory(ec)) continue;
    std::ifstream in(it->path() / "cgroup.procs");
    int pid = 0;
    if (in >> pid && pid > 0) return pid;
  }
  return 0;
}

bool process_alive_in(int pid, const std::string& cgroup_path) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) {
      const std::string rel = line.substr(3);
      return cgroup_path.size() >= rel.size() &&
             cgroup_path.compare(cgroup_path.size() - rel.size(), rel.size(), rel) == 0;
    }
  }
  return false;
}

std::uint64_t cookie_or_zero(const std::string& netns) {
  auto c = net::netns_cookie(netns);
  if (!c) {
    spdlog::debug("{}", c.error().to_string());
    return 0;
  }
  return *c;
}

/// The probe: a child process joins the container's cgroup and network namespace (what
/// `scripts/lab exec` does) and opens one TCP connection to `to`:`port`. Refused or
/// unanswered are fine: the SYN left the container either way. Only syscalls in the child.
Result<void> probe(const Target& t, const model::IpAddress& to, std::uint16_t port) {
  if (t.pid <= 0) return make_error(ESRCH, "no running process");
  if (t.ref.cgroup_path.empty()) return make_error(ENOENT, "its cgroup is unknown");
  const std::string procs = (fs::path(t.ref.cgroup_path) / "cgroup.procs").string();
  const std::string nspath = "/proc/" + std::to_string(t.pid) + "/ns/net";
  sockaddr_storage ss{};
  socklen_t sslen = 0;
  if (to.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, &to.bytes[12], 4);
    sslen = sizeof(*sin);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, to.bytes.data(), 16);
    sslen = sizeof(*sin6);
  }
  const pid_t child = fork();
  if (child < 0) return make_error(errno, "fork failed");
  if (child == 0) {
    const int pfd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (pfd < 0 || ::write(pfd, "0\n", 2) != 2) _exit(3);
    ::close(pfd);
    const int nfd = ::open(nspath.c_str(), O_RDONLY | O_CLOEXEC);
    if (nfd < 0 || ::setns(nfd, CLONE_NEWNET) != 0) _exit(4);
    const int s = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) _exit(5);
    if (::connect(s, reinterpret_cast<sockaddr*>(&ss), sslen) != 0 && errno != EINPROGRESS) _exit(7);
    pollfd p{s, POLLOUT, 0};
    const int n = ::poll(&p, 1, kProbeTimeoutMs);
    ::close(s);
    _exit(n == 0 ? 6 : 0);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 99;
  switch (code) {
  case 0:
  case 6:  // no answer: the SYN was still sent
    return {};
  case 3:
    return make_error(0, "cannot join its cgroup {}", t.ref.cgroup_path);
  case 4:
    return make_error(0, "cannot enter the network namespace of its process {}", t.pid);
  case 7:
    return make_error(0, "connect to {}:{} failed at once (no route from its namespace?)", to.to_string(),
                      port);
  default:
    return make_error(0, "the probe process failed (status {})", code);
  }
}

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
    cluster_.add_to(*sub);
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
    const model::Cluster& cluster = loaded->cluster;
    const std::vector<const model::Pod*> pods = select_pods(cluster);
    if (geteuid() != 0) {
      throw UserError(
          "must run as root: it loads BPF programs and attaches them to cgroups (try: sudo podpath "
          "shared-ip ...)");
    }
    const auto features = bpf::probe_cgroup_features();
    if (const auto problems = bpf::cgroup_blocking_problems(features); !problems.empty()) {
      throw UserError(problems.front());
    }
    const auto mode = features.best_netns_mode();
    if (auto note = bpf::netns_mode_limitation(mode); !note.empty()) spdlog::warn("{}", note);

    // The index: the inventory's containers, and on a real node what the cgroup tree shows.
    auto index = inventory::ContainerIndex::from_cluster(cluster);
    if (cluster.lab.empty())
      index.add_discovered(inventory::discover_kubepods_cgroups(features.cgroup2_mount), cluster);
    std::vector<Target> targets = collect_targets(pods, index);

    // Load and attach.
    bpf::CgroupDatapathOptions dpo;
    dpo.netns_mode = mode;
    dpo.coarse_clock = features.coarse_clock;
    auto dp = bpf::CgroupDatapath::load(dpo);
    if (!dp) throw UserError(dp.error().to_string());
    fs::path where = cgroup_;
    if (where.empty()) {
      auto def = inventory::default_attach_cgroup(cluster);
      if (!def) throw UserError(def.error().to_string());
      where = *def;
    }
    auto attachment = (*dp)->attach(where);
    if (!attachment) throw UserError(attachment.error().to_string());

    const double duration = duration_s_ > 0 ? duration_s_ : (probe_ ? 1.0 : 10.0);
    const StopOnSignal stop;
    io.err << fmt::format("podpath shared-ip: watching {} container(s) of {} pod(s) for {} s (cgroup {}, "
                          "namespace mode {}); Ctrl-C stops early\n",
                          targets.size(), pods.size(), duration, where.string(), bpf::to_string(mode));
    io.err.flush();
    write_ready();

    const auto t0 = std::chrono::steady_clock::now();
    if (probe_) run_probes(targets, io);
    while (!stop.flag().load() &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < duration) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }

    auto records = (*dp)->read_flows();
    if (!records) throw UserError(records.error().to_string());
    warn_on_losses(**dp);
    if (auto d = (*attachment)->detach(); !d) spdlog::warn("{}", d.error().to_string());

    const inventory::NetnsLabels labels = netns_labels(cluster, targets);
    std::vector<inventory::SharedIpResult> results;
    for (const model::Pod* pod : pods) results.push_back(check_pod(*pod, targets, index, *records, labels));
    const auto verdict = inventory::overall_verdict(results);

    if (format_ == "json") {
      nlohmann::json out = {{"verdict", inventory::to_string(verdict)},
                            {"namespace_mode", bpf::to_string(mode)},
                            {"attach_cgroup", where.string()},
                            {"duration_s", duration},
                            {"pods", nlohmann::json::array()}};
      for (const auto& r : results) out["pods"].push_back(inventory::to_json(r));
      io.out << out.dump(2) << "\n";
    } else {
      for (const auto& r : results) render(io.out, r, pods);
      if (results.size() > 1) io.out << "OVERALL " << inventory::to_string(verdict) << "\n";
    }
    return verdict == inventory::Verdict::Pass ? kExitOk : kExitNegative;
  }

 private:
  std::vector<const model::Pod*> select_pods(const model::Cluster& cluster) const {
    std::vector<const model::Pod*> out;
    if (all_) {
      for (const auto& p : cluster.pods) out.push_back(&p);
      if (out.empty()) throw UserError("the cluster has no pods");
      return out;
    }
    const bool qualified = pod_.find('/') != std::string::npos;
    for (const auto& p : cluster.pods) {
      if (qualified ? p.full_name() == pod_ : p.name == pod_) out.push_back(&p);
    }
    if (out.size() > 1) {
      std::string all;
      for (const auto* p : out) all += (all.empty() ? "" : ", ") + p->full_name();
      throw UserError(fmt::format("pod name '{}' is ambiguous; use namespace/name: {}", pod_, all));
    }
    if (out.empty()) throw UserError(inventory::unknown_pod_message(cluster, pod_));
    return out;
  }

  static std::vector<Target> collect_targets(const std::vector<const model::Pod*>& pods,
                                             const inventory::ContainerIndex& index) {
    std::vector<Target> out;
    for (const model::Pod* pod : pods) {
      if (!pod->containers.empty()) {
        for (const auto& c : pod->containers) {
          Target t;
          t.pod = pod;
          const ContainerRef* ref = index.find(c.cgroup_id);
          t.ref = ref != nullptr ? *ref : ContainerRef{pod->full_name(), pod->uid,   c.name, c.id,
                                                       c.cgroup_path,    c.cgroup_id};
          t.pid = process_alive_in(c.pid, c.cgroup_path) ? c.pid : first_pid_of(c.cgroup_path);
          out.push_back(std::move(t));
        }
        continue;
      }
      for (const ContainerRef* ref : index.containers_of(pod->full_name())) {
        out.push_back({pod, *ref, first_pid_of(ref->cgroup_path)});
      }
    }
    return out;
  }

  void run_probes(const std::vector<Target>& targets, Io& io) const {
    for (const auto& t : targets) {
      auto r = probe(t, t.pod->ip, probe_port_);
      if (!r) {
        io.err << fmt::format("podpath shared-ip: could not probe container {} of {}: {}\n", t.ref.container,
                              t.pod->full_name(), r.error().to_string());
      } else {
        spdlog::debug("probed container {} of {}", t.ref.container, t.pod->full_name());
      }
    }
  }

  static void warn_on_losses(const bpf::CgroupDatapath& dp) {
    auto c = dp.read_counters();
    if (!c) return;
    const std::uint64_t lost = bpf::insert_failures(*c);
    if (lost > 0) spdlog::warn("{} packets could not be counted (container-flows map full or busy)", lost);
    if ((*c)[bpf::CgroupCounter::ParseErrors] > 0)
      spdlog::warn("{} packets had malformed headers", (*c)[bpf::CgroupCounter::ParseErrors]);
  }

  /// Names for every namespace podpath can name: pods', nodes', the host's, the lab's others.
  static inventory::NetnsLabels netns_labels(const model::Cluster& cluster,
                                             const std::vector<Target>& targets) {
    inventory::NetnsLabels labels;
    auto add = [&](std::uint64_t cookie, std::string label) {
      if (cookie != 0) labels.emplace(cookie, std::move(label));
    };
    for (const auto& p : cluster.pods) {
      if (!p.netns.empty()) add(cookie_or_zero(p.netns), p.netns + " (pod " + p.full_name() + ")");
    }
    for (const auto& n : cluster.nodes) {
      add(cookie_or_zero(n.netns),
          n.netns.empty() ? "host (node " + n.name + ")" : n.netns + " (node " + n.name + ", host network)");
    }
    add(cookie_or_zero(""), "host");
    if (!cluster.lab.empty()) {
      std::error_code ec;
      for (fs::directory_iterator it(net::kNetnsRunDir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.rfind(cluster.lab + "-", 0) == 0) add(cookie_or_zero(name), name);
      }
    }
    for (const auto& t : targets) {
      if (t.pid > 0) {
        add(cookie_or_zero("/proc/" + std::to_string(t.pid) + "/ns/net"),
            "the namespace of container " + t.ref.container + "'s process");
      }
    }
    return labels;
  }

  static std::uint64_t pod_netns_cookie(const model::Pod& pod, const inventory::ContainerIndex& index) {
    if (!pod.netns.empty()) return cookie_or_zero(pod.netns);
    if (const ContainerRef* sandbox = index.sandbox_of(pod.full_name())) {
      if (const int pid = first_pid_of(sandbox->cgroup_path); pid > 0) {
        return cookie_or_zero("/proc/" + std::to_string(pid) + "/ns/net");
      }
    }
    return 0;
  }

  static inventory::SharedIpResult check_pod(const model::Pod& pod, const std::vector<Target>& targets,
                                             const inventory::ContainerIndex& index,
                                             const std::vector<bpf::CgroupFlowRecord>& records,
                                             const inventory::NetnsLabels& labels) {
    inventory::SharedIpInput in;
    in.pod = pod.full_name();
    in.pod_ip = pod.ip;
    in.pod_netns = pod_netns_cookie(pod, index);
    in.labels = labels;
    // The pod's own namespace needs no "(pod ...)" note in its own report.
    if (in.pod_netns != 0)
      in.labels[in.pod_netns] = pod.netns.empty() ? "the pod's" : fs::path(pod.netns).filename().string();
    for (const auto& t : targets) {
      if (t.pod != &pod) continue;
      inventory::ContainerTraffic c;
      c.name = t.ref.container;
      c.id = t.ref.container_id;
      c.cgroup_id = t.ref.cgroup_id;
      if (t.pid > 0) c.process_netns = cookie_or_zero("/proc/" + std::to_string(t.pid) + "/ns/net");
      for (const auto& r : records) {
        const ContainerRef* ref = index.find(r.cgroup_id);
        const bool mine = r.cgroup_id == t.ref.cgroup_id ||
                          (ref != nullptr && !t.ref.container_id.empty() &&
                           ref->container_id == t.ref.container_id && ref->pod == t.ref.pod);
        if (mine) c.records.push_back(loader::to_container_flow(r));
      }
      in.containers.push_back(std::move(c));
    }
    return inventory::check_shared_ip(in);
  }

  static void render(std::ostream& out, const inventory::SharedIpResult& r,
                     const std::vector<const model::Pod*>& pods) {
    const auto it =
        std::find_if(pods.begin(), pods.end(), [&](const model::Pod* p) { return p->full_name() == r.pod; });
    const std::string node = it != pods.end() ? (*it)->node : "";
    out << fmt::format("POD {}   IP {}   node {}   netns {}\n", r.pod, r.pod_ip.to_string(),
                       node.empty() ? "?" : node, inventory::netns_label(r.labels, r.pod_netns));
    // NETNS: where the container's process is; LOCAL IP: what its sockets used, with the
    // namespace they used when that is not the process's (a socket made after setns()).
    std::vector<std::array<std::string, 8>> rows;
    rows.push_back(
        {"CONTAINER", "NETNS", "LOCAL IP", "PKTS OUT", "PKTS IN", "BYTES OUT", "BYTES IN", "RESULT"});
    for (const auto& c : r.containers) {
      const std::string runs_in = inventory::netns_label(r.labels, c.process_netns);
      if (c.uses.empty()) {
        rows.push_back({c.name, runs_in, "-", "0", "0", "0", "0", inventory::to_string(c.status)});
        continue;
      }
      bool first = true;
      for (const auto& u : c.uses) {
        std::string local = u.local.to_string();
        if (u.netns_cookie != c.process_netns)
          local += " (in " + inventory::netns_label(r.labels, u.netns_cookie) + ")";
        const std::string result =
            u.wrong() ? "WRONG" : (u.kind == inventory::UseKind::Loopback ? "ok (loopback)" : "ok");
        rows.push_back({first ? c.name : "", first ? runs_in : "", local, std::to_string(u.tx_packets),
                        std::to_string(u.rx_packets), std::to_string(u.tx_bytes), std::to_string(u.rx_bytes),
                        result});
        first = false;
      }
    }
    std::array<std::size_t, 8> w{};
    for (const auto& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) w[i] = std::max(w[i], row[i].size());
    }
    for (const auto& row : rows) {
      std::string line = "  ";
      for (std::size_t i = 0; i < row.size(); ++i) {
        line += i + 1 < row.size() ? fmt::format("{:<{}}   ", row[i], w[i]) : row[i];
      }
      out << line << "\n";
    }
    out << fmt::format("  {}: {}\n\n", inventory::to_string(r.verdict), r.summary);
  }

  void write_ready() const {
    if (ready_file_.empty()) return;
    const std::string tmp = ready_file_ + ".tmp";
    {
      std::ofstream o(tmp, std::ios::trunc);
      o << "ready\n";
    }
    std::error_code ec;
    fs::rename(tmp, ready_file_, ec);
    if (ec) throw UserError(fmt::format("cannot write --ready-file {}: {}", ready_file_, ec.message()));
  }

  std::string pod_;
  bool all_ = false;
  ClusterFlags cluster_;
  double duration_s_ = 0;
  bool probe_ = false;
  int probe_port_ = 9;
  std::string cgroup_;
  std::string format_ = "table";
  std::string ready_file_;
};

}  // namespace

std::unique_ptr<Command> make_shared_ip_command() { return std::make_unique<SharedIpCommand>(); }

}  // namespace podpath::cli

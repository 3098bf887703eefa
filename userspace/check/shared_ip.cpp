#include "check/shared_ip.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "check/container_probe.hpp"
#include "inventory/processes.hpp"
#include "net/netns.hpp"

namespace podpath::check {
namespace {

namespace fs = std::filesystem;
using inventory::ContainerRef;

/// How often the watch looks at the stop flag.
constexpr std::chrono::milliseconds kStopCheck{50};

std::uint64_t cookie_or_zero(const std::string& netns) {
  auto c = net::netns_cookie(netns);
  if (!c) {
    spdlog::debug("{}", c.error().to_string());
    return 0;
  }
  return *c;
}

}  // namespace

Result<std::unique_ptr<SharedIpWatch>> SharedIpWatch::start(model::ClusterSnapshot cluster,
                                                            std::vector<const model::Pod*> pods,
                                                            const fs::path& cgroup) {
  if (geteuid() != 0) {
    return make_error(
        EPERM, "must run as root: it loads BPF programs and attaches them to cgroups (try: sudo podpath "
               "shared-ip ...)");
  }
  std::unique_ptr<SharedIpWatch> w(new SharedIpWatch());
  w->cluster_ = cluster;
  w->pods_ = std::move(pods);
  loader::ContainerTracker::Options options;
  options.attach_cgroup = cgroup;
  auto tracker = loader::ContainerTracker::start(std::move(cluster), options);
  if (!tracker) return tracker.error();
  w->tracker_ = std::move(*tracker);
  for (const auto& note : w->tracker_->notes()) spdlog::warn("{}", note);
  w->collect_targets();
  return w;
}

std::string SharedIpWatch::namespace_mode() const { return bpf::to_string(tracker_->netns_mode()); }

void SharedIpWatch::collect_targets() {
  const inventory::ContainerIndex& index = tracker_->index();
  for (const model::Pod* pod : pods_) {
    if (!pod->containers.empty()) {
      for (const auto& c : pod->containers) {
        ContainerTarget t;
        t.pod = pod;
        const ContainerRef* ref = index.find(c.cgroup_id);
        t.ref = ref != nullptr ? *ref : ContainerRef{pod->full_name(), pod->uid,   c.name, c.id,
                                                     c.cgroup_path,    c.cgroup_id};
        t.pid = inventory::process_in_cgroup(c.pid, c.cgroup_path) ? c.pid
                                                                   : inventory::first_pid_of(c.cgroup_path);
        targets_.push_back(std::move(t));
      }
      continue;
    }
    for (const ContainerRef* ref : index.containers_of(pod->full_name())) {
      targets_.push_back({pod, *ref, inventory::first_pid_of(ref->cgroup_path), {}});
    }
  }
}

std::vector<std::string> SharedIpWatch::probe(std::uint16_t port) {
  std::vector<std::string> failures;
  for (auto& t : targets_) {
    if (auto r = probe_from_container({t.ref.cgroup_path, t.pid}, t.pod->ip, port); !r) {
      t.probe_error = r.error().to_string();
      failures.push_back(fmt::format("could not probe container {} of {}: {}", t.ref.container,
                                     t.pod->full_name(), r.error().to_string()));
    } else {
      spdlog::debug("probed container {} of {}", t.ref.container, t.pod->full_name());
    }
  }
  return failures;
}

void SharedIpWatch::wait_until(std::chrono::steady_clock::time_point deadline,
                               const std::atomic<bool>& stop) const {
  while (!stop.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(kStopCheck);
}

Result<SharedIpReport> SharedIpWatch::finish(double duration_s) {
  auto& datapath = tracker_->datapath();
  auto records = datapath.read_flows();
  if (!records) return records.error();
  if (auto c = datapath.read_counters()) {
    if (const std::uint64_t lost = bpf::insert_failures(*c); lost > 0)
      spdlog::warn("{} packets could not be counted (container-flows map full or busy)", lost);
    if ((*c)[bpf::CgroupCounter::ParseErrors] > 0)
      spdlog::warn("{} packets had malformed headers", (*c)[bpf::CgroupCounter::ParseErrors]);
  }
  if (auto d = tracker_->detach(); !d) spdlog::warn("{}", d.error().to_string());

  std::vector<inventory::ContainerFlow> flows;
  flows.reserve(records->size());
  for (const auto& r : *records) flows.push_back(loader::to_container_flow(r));
  const inventory::NetnsLabels labels = netns_labels();
  SharedIpReport report;
  for (const model::Pod* pod : pods_)
    report.results.push_back(inventory::check_shared_ip(input_for(*pod, flows, labels)));
  report.verdict = inventory::overall_verdict(report.results);
  report.namespace_mode = namespace_mode();
  report.attach_cgroup = attach_cgroup();
  report.duration_s = duration_s;
  return report;
}

/// Names for every namespace podpath can name: pods', nodes', the host's, the lab's others.
inventory::NetnsLabels SharedIpWatch::netns_labels() const {
  inventory::NetnsLabels labels;
  auto add = [&](std::uint64_t cookie, std::string label) {
    if (cookie != 0) labels.emplace(cookie, std::move(label));
  };
  const model::Cluster& cluster = *cluster_;
  for (const auto& p : cluster.pods) {
    if (!p.netns.empty()) add(cookie_or_zero(p.netns), p.netns + " (pod " + p.full_name() + ")");
  }
  for (const auto& n : cluster.nodes) {
    add(cookie_or_zero(n.netns),
        n.netns.empty() ? "host (node " + n.name + ")" : n.netns + " (node " + n.name + ", host network)");
  }
  add(cookie_or_zero(""), "host");
  if (!cluster.lab.empty()) {
    for (const auto& name : net::named_netns(cluster.lab + "-")) add(cookie_or_zero(name), name);
  }
  for (const auto& t : targets_) {
    if (t.pid > 0) {
      add(cookie_or_zero(inventory::process_netns_path(t.pid)),
          "the namespace of container " + t.ref.container + "'s process");
    }
  }
  return labels;
}

std::uint64_t SharedIpWatch::pod_netns_cookie(const model::Pod& pod) const {
  if (!pod.netns.empty()) return cookie_or_zero(pod.netns);
  if (const ContainerRef* sandbox = tracker_->index().sandbox_of(pod.full_name())) {
    if (const int pid = inventory::first_pid_of(sandbox->cgroup_path); pid > 0) {
      return cookie_or_zero(inventory::process_netns_path(pid));
    }
  }
  return 0;
}

inventory::SharedIpInput SharedIpWatch::input_for(const model::Pod& pod,
                                                  const std::vector<inventory::ContainerFlow>& records,
                                                  const inventory::NetnsLabels& labels) const {
  const inventory::ContainerIndex& index = tracker_->index();
  inventory::SharedIpInput in;
  in.pod = pod.full_name();
  in.pod_ip = pod.ip;
  in.pod_netns = pod_netns_cookie(pod);
  in.labels = labels;
  // The pod's own namespace needs no "(pod ...)" note in its own report.
  if (in.pod_netns != 0)
    in.labels[in.pod_netns] = pod.netns.empty() ? "the pod's" : fs::path(pod.netns).filename().string();
  for (const auto& t : targets_) {
    if (t.pod != &pod) continue;
    inventory::ContainerTraffic c;
    c.name = t.ref.container;
    c.id = t.ref.container_id;
    c.cgroup_id = t.ref.cgroup_id;
    if (t.pid > 0) c.process_netns = cookie_or_zero(inventory::process_netns_path(t.pid));
    c.probe_error = t.probe_error;
    for (const auto& r : records) {
      const ContainerRef* ref = index.find(r.cgroup_id);
      const bool mine = r.cgroup_id == t.ref.cgroup_id ||
                        (ref != nullptr && !t.ref.container_id.empty() &&
                         ref->container_id == t.ref.container_id && ref->pod == t.ref.pod);
      if (mine) c.records.push_back(r);
    }
    in.containers.push_back(std::move(c));
  }
  return in;
}

}  // namespace podpath::check

#include "loader/container_tracker.hpp"

#include <unistd.h>

#include <cerrno>
#include <utility>

#include <spdlog/spdlog.h>

#include "loader/journal.hpp"
#include "loader/leftovers.hpp"
#include "util/system.hpp"

namespace podpath::loader {

inventory::ContainerFlow to_container_flow(const bpf::CgroupFlowRecord& r) {
  inventory::ContainerFlow f;
  f.cgroup_id = r.cgroup_id;
  f.netns_cookie = r.netns_cookie;
  f.local = r.local;
  f.remote = r.remote;
  f.local_port = r.local_port;
  f.remote_port = r.remote_port;
  f.proto = r.proto;
  f.tx_packets = r.tx_packets;
  f.tx_bytes = r.tx_bytes;
  f.rx_packets = r.rx_packets;
  f.rx_bytes = r.rx_bytes;
  f.last_seen_ns = r.last_seen_ns;
  return f;
}

Result<std::unique_ptr<ContainerTracker>> ContainerTracker::start(model::ClusterSnapshot snapshot,
                                                                  const Options& options) {
  if (geteuid() != 0) {
    return make_error(
        EPERM, "container attribution needs root (it loads BPF programs and attaches them to cgroups)");
  }
  std::unique_ptr<ContainerTracker> t(new ContainerTracker());
  t->cluster_ = std::move(snapshot);
  const model::Cluster& cluster = *t->cluster_;
  t->options_ = options;
  const auto features = bpf::probe_cgroup_features();
  if (const auto problems = bpf::cgroup_blocking_problems(features); !problems.empty()) {
    return make_error(0, "{}", problems.front());
  }
  t->cgroup2_mount_ = features.cgroup2_mount;
  bpf::CgroupDatapathOptions dpo;
  dpo.netns_mode = features.best_netns_mode();
  dpo.coarse_clock = features.coarse_clock;
  dpo.max_entries = options.max_entries;
  if (auto note = bpf::netns_mode_limitation(dpo.netns_mode); !note.empty()) t->notes_.push_back(note);
  auto dp = bpf::CgroupDatapath::load(dpo);
  if (!dp) return dp.error();
  t->datapath_ = std::move(*dp);
  std::filesystem::path where = options.attach_cgroup;
  if (where.empty()) {
    auto def = inventory::default_attach_cgroup(cluster);
    if (!def) return def.error();
    where = *def;
  }
  // Programs a killed Legacy-mode run left on cgroups go first, by that run's journal: their
  // names would prove nothing, another live podpath's programs carry the same.
  CleanupOptions leftovers;
  leftovers.tc = false;
  for (const auto& line : clean_leftovers(leftovers).removed) spdlog::info("containers: {}", line);
  auto a = t->datapath_->attach(where, options.attach_mode);
  if (!a) return a.error();
  t->attachment_ = std::move(*a);
  if (t->attachment_->mode() == bpf::CgroupAttachMode::Legacy) {
    // Attached the classic way, they outlive podpath if it is killed: recorded for cleanup.
    t->record_ = Journal::process().add(
        CgroupRecord{where.string(), t->datapath_->ingress_prog_id(), t->datapath_->egress_prog_id()});
  }
  t->index_ = inventory::ContainerIndex::from_cluster(cluster);
  if (cluster.lab.empty())
    t->index_.add_discovered(inventory::discover_kubepods_cgroups(t->cgroup2_mount_), cluster);
  return t;
}

ContainerTracker::~ContainerTracker() {
  try {
    if (auto r = detach(); !r) spdlog::warn("containers: {}", r.error().to_string());
  } catch (...) {
    // A destructor must not throw: it may run while an exception unwinds.
  }
}

Result<void> ContainerTracker::detach() {
  if (!attachment_) return {};
  if (auto r = attachment_->detach(); !r) return r;
  Journal::process().retire(std::exchange(record_, 0));
  return {};
}

void ContainerTracker::set_cluster(model::ClusterSnapshot cluster) {
  cluster_ = std::move(cluster);
  index_ = inventory::ContainerIndex::from_cluster(*cluster_);
  if (cluster_->lab.empty())
    index_.add_discovered(inventory::discover_kubepods_cgroups(cgroup2_mount_), *cluster_);
}

Result<void> ContainerTracker::refresh() {
  auto records = datapath_->read_flows();
  if (!records) return records.error();
  const std::uint64_t now = monotonic_ns();
  const auto expiry = static_cast<std::uint64_t>(std::chrono::nanoseconds(options_.idle_expiry).count());
  std::vector<bpf::CgroupFlowRecord> idle;
  std::vector<inventory::ContainerFlow> live;
  bool unknown = false;
  for (auto& r : *records) {
    if (now > r.last_seen_ns && now - r.last_seen_ns > expiry) {
      idle.push_back(r);
      continue;
    }
    unknown = unknown || index_.find(r.cgroup_id) == nullptr;
    live.push_back(to_container_flow(r));
  }
  if (auto d = datapath_->delete_flows(idle); !d) return d;
  // New containers appear with ids the index does not know: walk the cgroup tree again,
  // at most every 10 s (a cgroup that is no container would otherwise cost a walk per refresh).
  const auto steady = std::chrono::steady_clock::now();
  if (unknown && cluster_->lab.empty() && steady - last_discovery_ > std::chrono::seconds(10)) {
    last_discovery_ = steady;
    index_.add_discovered(inventory::discover_kubepods_cgroups(cgroup2_mount_), *cluster_);
  }
  attribution_ = inventory::ContainerAttribution(index_, std::move(live));
  return {};
}

}  // namespace podpath::loader

#include "loader/session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <system_error>

#include "net/netns.hpp"
#include "net/routes.hpp"
#include "util/system.hpp"

namespace podpath::loader {

Result<std::unique_ptr<Session>> Session::start(const SessionOptions& options) {
  std::unique_ptr<Session> s(new Session());
  s->options_ = options;
  auto loaded = inventory::load_cluster(options.source);
  if (!loaded) return loaded.error();
  s->loaded_ = std::move(*loaded);
  for (const auto& note : s->loaded_.notes) spdlog::info("{}", note);
  if (s->loaded_.origin == inventory::ClusterOrigin::InventoryFile) {
    s->inventory_file_ = options.source.inventory_file;
  } else if (s->loaded_.origin == inventory::ClusterOrigin::Lab) {
    if (auto f = inventory::find_lab_inventory(options.source.lab, options.source.lab_state_dir))
      s->inventory_file_ = *f;
  }
  if (s->inventory_file_) {
    std::error_code ec;
    s->inventory_mtime_ = std::filesystem::last_write_time(*s->inventory_file_, ec);
  }

  model::Cluster watched = s->loaded_.cluster;
  if (!options.nodes.empty()) {
    for (const auto& n : options.nodes) {
      if (watched.find_node(n) == nullptr)
        return make_error(EINVAL, "{}", inventory::unknown_node_message(watched, n));
    }
    std::erase_if(watched.nodes, [&](const model::Node& n) {
      return std::find(options.nodes.begin(), options.nodes.end(), n.name) == options.nodes.end();
    });
  }
  if (watched.nodes.empty()) return make_error(EINVAL, "the inventory lists no node to watch");
  if (options.in_node_netns) {
    for (auto& n : watched.nodes) n.netns.clear();
  }

  if (auto r = s->rebuild_cluster_views(); !r) return r.error();
  auto loader = Loader::start(targets_for(watched, options.bridge, options.uplink, options.extra),
                              options.loader, s->loaded_.cluster);
  if (!loader) return loader.error();
  s->loader_ = std::move(*loader);
  if (auto r = s->loader_->set_cidrs(*s->cidrs_, s->counted_at_source()); !r) return r.error();
  s->source_ = std::make_unique<BpfFlowSource>(s->loader_->datapath());
  s->aggregator_ = std::make_unique<flows::Aggregator>(*s->source_, options.aggregator);
  if (options.containers) {
    auto tracker = ContainerTracker::start(s->loaded_.cluster);
    if (tracker) {
      s->tracker_ = std::move(*tracker);
      for (const auto& note : s->tracker_->notes()) spdlog::info("containers: {}", note);
    } else {
      spdlog::info("no per-container attribution: {}", tracker.error().to_string());
    }
  }
  auto events = bpf::EventReader::open(s->loader_->datapath(),
                                       [raw = s.get()](const bpf::FlowEvent&) { ++raw->new_flow_events_; });
  if (!events) return events.error();
  s->events_ = std::move(*events);
  s->rebuild_topology();
  return s;
}

Result<void> Session::rebuild_cluster_views() {
  auto cidrs = inventory::CidrTable::build(loaded_.cluster, options_.cidrs);
  if (!cidrs) return cidrs.error();
  cidrs_ = std::make_unique<inventory::CidrTable>(std::move(*cidrs));
  resolver_ = std::make_unique<inventory::Resolver>(loaded_.cluster, *cidrs_);
  return {};
}

Result<void> Session::reload_inventory_if_changed() {
  if (!inventory_file_) return {};
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(*inventory_file_, ec);
  if (ec || mtime == inventory_mtime_) return {};
  auto cluster = inventory::read_lab_inventory(*inventory_file_);
  if (!cluster) {
    spdlog::warn("inventory changed but cannot be read, keeping the previous one: {}",
                 cluster.error().to_string());
    return {};
  }
  inventory_mtime_ = mtime;
  loaded_.cluster = std::move(*cluster);
  if (auto r = rebuild_cluster_views(); !r) return r;
  loader_->set_cluster(loaded_.cluster);
  spdlog::info("inventory reloaded: {} pods", loaded_.cluster.pods.size());
  return loader_->set_cidrs(*cidrs_, counted_at_source());
}

std::vector<std::string> Session::counted_at_source() const {
  std::vector<std::string> nodes;
  if (options_.matrix_per_node) {
    for (const auto& n : loaded_.cluster.nodes) nodes.push_back(n.name);
  } else {
    for (const auto& t : loader_->targets()) nodes.push_back(t.node);
  }
  return nodes;
}

void Session::rebuild_topology() {
  flows::Topology t;
  t.interfaces = loader_->observed_interfaces();
  for (const auto& target : loader_->targets()) {
    const model::Node* node = loaded_.cluster.find_node(target.node);
    if (node == nullptr) continue;
    auto routes = net::read_routes(target.netns);
    if (!routes) {
      spdlog::warn("node {}: cannot read routes: {}", target.node, routes.error().to_string());
      continue;
    }
    auto pn = flows::PathNode::from(*node, std::move(*routes));
    if (!target.bridge.empty()) pn.bridge = target.bridge;
    if (!target.uplink.empty()) pn.uplink = target.uplink;
    t.nodes.push_back(std::move(pn));
  }
  if (loaded_.cluster.gateway)
    t.gateway = flows::PathGateway::from(*loaded_.cluster.gateway, loaded_.cluster.underlay);
  topology_ = std::move(t);
}

Result<void> Session::wait(std::chrono::milliseconds timeout, const std::atomic<bool>& stop,
                           bool wake_on_new_flow) {
  using std::chrono::milliseconds;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto events_before = new_flow_events_;
  while (!stop.load()) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    // Links first (a new pod's veth must be attached within a second), then events.
    auto r = loader_->poll_links(std::min(left, milliseconds(20)));
    if (!r) return r.error();
    auto e = events_->poll(0);
    if (!e) return e.error();
    // A new flow: refresh soon, once the flow has crossed its path (a few ms).
    if (wake_on_new_flow && new_flow_events_ != events_before) {
      (void)loader_->poll_links(milliseconds(50));
      break;
    }
  }
  return {};
}

Result<flows::UpdateSummary> Session::refresh() {
  if (auto r = reload_inventory_if_changed(); !r) return r.error();
  auto summary = aggregator_->update(monotonic_ns());
  if (!summary) return summary.error();
  if (auto c = loader_->datapath().read_counters()) counters_ = *c;
  if (auto m = loader_->datapath().read_matrix()) matrix_ = std::move(*m);
  if (tracker_) {
    if (auto r = tracker_->refresh(); !r) spdlog::warn("containers: {}", r.error().to_string());
    if (auto c = tracker_->datapath().read_counters()) container_counters_ = *c;
  }
  rebuild_topology();
  return summary;
}

std::string Session::container_of(const model::FlowKey& key, const model::Pod* pod) {
  if (!tracker_ || pod == nullptr) return {};
  auto it = pod_netns_cookies_.find(pod->netns);
  if (it == pod_netns_cookies_.end()) {
    auto cookie =
        pod->netns.empty() ? Result<std::uint64_t>(std::uint64_t{0}) : net::netns_cookie(pod->netns);
    it = pod_netns_cookies_.emplace(pod->netns, cookie ? *cookie : 0).first;
  }
  return tracker_->attribution().column(key, it->second);
}

Result<void> Session::stop() { return loader_ ? loader_->stop() : Result<void>{}; }

}  // namespace podpath::loader

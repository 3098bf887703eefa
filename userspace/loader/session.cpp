#include "loader/session.hpp"

#include <poll.h>
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
  if (s->loaded_.kube) {
    // From the API, this host can watch only the node it is; the others' pods are named.
    const std::string& own = s->loaded_.kube->own_node();
    if (own.empty()) {
      return make_error(
          EINVAL,
          "this host is none of the cluster's nodes, so there is nothing to attach to: run podpath "
          "on a node (the nodes are: {}), or name this host's node with --node",
          inventory::node_names(watched));
    }
    std::erase_if(watched.nodes, [&](const model::Node& n) { return n.name != own; });
  }
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

  if (auto r = s->rebuild_cluster_views(); !r) return r.error();
  auto loader = Loader::start(targets_for(watched, options.bridge, options.uplink, options.extra),
                              options.loader, s->loaded_.cluster);
  if (!loader) return loader.error();
  s->loader_ = std::move(*loader);
  std::vector<std::string> observed;
  for (const auto& t : s->loader_->targets()) observed.push_back(t.node);
  if (auto r = s->loader_->set_cidrs(*s->cidrs_, observed); !r) return r.error();
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
  resolver_ = std::make_unique<inventory::Resolver>(loaded_.cluster, *cidrs_,
                                                    loaded_.kube ? &loaded_.kube->pods() : nullptr);
  return {};
}

void Session::take_kube_changes() {
  if (!loaded_.kube) return;
  pollfd pfd{loaded_.kube->fd(), POLLIN, 0};
  if (::poll(&pfd, 1, 0) <= 0) return;
  // Into the informers' indexes only: the cluster views change at the next refresh, so the
  // endpoints a caller resolved after a refresh (pointing into the cluster and the resolver)
  // stay valid until the one after it.
  if (loaded_.kube->poll(std::chrono::system_clock::now())) kube_changed_ = true;
}

Result<void> Session::apply_kube_changes() {
  if (!kube_changed_) return {};
  kube_changed_ = false;
  loaded_.cluster = loaded_.kube->cluster();
  return apply_cluster();
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
  spdlog::info("inventory reloaded: {} pods", loaded_.cluster.pods.size());
  return apply_cluster();
}

Result<void> Session::apply_cluster() {
  if (auto r = rebuild_cluster_views(); !r) return r;
  loader_->set_cluster(loaded_.cluster);
  std::vector<std::string> observed;
  for (const auto& t : loader_->targets()) observed.push_back(t.node);
  if (auto r = loader_->set_cidrs(*cidrs_, observed); !r) return r;
  rebuild_topology();
  return {};
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
  // From the API, the other nodes are other machines: their routes are assumed (kubenet).
  const model::Node* own = loaded_.kube ? loaded_.cluster.find_node(loaded_.kube->own_node()) : nullptr;
  for (const auto& node : own != nullptr ? loaded_.cluster.nodes : std::vector<model::Node>{}) {
    if (t.find_node(node.name) != nullptr) continue;
    std::optional<model::IpAddress> gw;
    if (loaded_.cluster.gateway) gw = loaded_.cluster.gateway->ip;
    t.nodes.push_back(flows::PathNode::assumed(node, *own, loaded_.cluster.underlay, gw));
  }
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
    // Pods and nodes from the Kubernetes API, between refreshes (never blocks).
    take_kube_changes();
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
  if (auto r = apply_kube_changes(); !r) return r.error();
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

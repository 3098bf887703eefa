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
  s->cluster_ = std::make_shared<const model::Cluster>(std::move(s->loaded_.cluster));
  s->loaded_.cluster = {};
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

  if (options.check_cluster) {
    if (auto r = options.check_cluster(*s->cluster_); !r) return r.error();
  }
  model::Cluster watched = *s->cluster_;
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
  if (options.in_node_netns) {
    for (auto& n : watched.nodes) n.netns.clear();
  }

  if (auto r = s->rebuild_cluster_views(); !r) return r.error();
  auto loader = Loader::start(targets_for(watched, options.bridge, options.uplink, options.extra),
                              options.loader, *s->cluster_);
  if (!loader) return loader.error();
  s->loader_ = std::move(*loader);
  if (auto r = s->loader_->set_cidrs(*s->cidrs_, s->counted_at_source()); !r) return r.error();
  s->source_ = std::make_unique<BpfFlowSource>(s->loader_->datapath());
  s->aggregator_ = std::make_unique<flows::Aggregator>(*s->source_, options.aggregator);
  if (options.containers) {
    auto tracker = ContainerTracker::start(s->cluster_);
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
  auto cidrs = inventory::CidrTable::build(*cluster_, options_.cidrs);
  if (!cidrs) return cidrs.error();
  // The resolver first: it references the table it replaces.
  auto table = std::make_unique<inventory::CidrTable>(std::move(*cidrs));
  resolver_ =
      std::make_unique<inventory::Resolver>(cluster_, *table, loaded_.kube ? &loaded_.kube->pods() : nullptr);
  cidrs_ = std::move(table);
  return {};
}

void Session::take_kube_changes() {
  if (!loaded_.kube) return;
  pollfd pfd{loaded_.kube->fd(), POLLIN, 0};
  if (::poll(&pfd, 1, 0) <= 0) return;
  // Into the informers' indexes only: the cluster views (snapshot, CIDRs, resolver,
  // topology) change at the next refresh, so a caller sees one cluster from a refresh to the
  // next.
  if (loaded_.kube->poll(std::chrono::system_clock::now())) kube_changed_ = true;
}

Result<void> Session::apply_kube_changes() {
  if (!kube_changed_) return {};
  kube_changed_ = false;
  // A new snapshot: endpoints resolved in the old one keep it alive.
  cluster_ = std::make_shared<const model::Cluster>(loaded_.kube->cluster());
  return apply_cluster();
}

Result<void> Session::reload_inventory_if_changed() {
  if (!inventory_file_) return {};
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(*inventory_file_, ec);
  if (ec || mtime == inventory_mtime_) return {};
  return reload_inventory();
}

Result<void> Session::reload_inventory() {
  if (!inventory_file_) return {};
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(*inventory_file_, ec);
  if (ec) return {};  // not there (a lab being rebuilt): keep the previous one
  auto cluster = inventory::read_lab_inventory(*inventory_file_);
  if (!cluster) {
    spdlog::warn("inventory changed but cannot be read, keeping the previous one: {}",
                 cluster.error().to_string());
    return {};
  }
  inventory_mtime_ = mtime;
  // A new snapshot: endpoints resolved in the old one keep it alive (a check in progress).
  cluster_ = std::make_shared<const model::Cluster>(std::move(*cluster));
  spdlog::info("inventory reloaded: {} pods", cluster_->pods.size());
  return apply_cluster();
}

Result<void> Session::apply_cluster() {
  if (auto r = rebuild_cluster_views(); !r) return r;
  loader_->set_cluster(*cluster_);
  if (tracker_) tracker_->set_cluster(cluster_);
  if (auto r = loader_->set_cidrs(*cidrs_, counted_at_source()); !r) return r;
  rebuild_topology();
  return {};
}

std::vector<std::string> Session::counted_at_source() const {
  std::vector<std::string> nodes;
  if (options_.matrix_per_node) {
    for (const auto& n : cluster_->nodes) nodes.push_back(n.name);
  } else {
    for (const auto& t : loader_->targets()) nodes.push_back(t.node);
  }
  return nodes;
}

void Session::rebuild_topology() {
  flows::Topology t;
  t.interfaces = loader_->observed_interfaces();
  for (const auto& target : loader_->targets()) {
    const model::Node* node = cluster_->find_node(target.node);
    if (node == nullptr) continue;
    if (std::find(gone_.begin(), gone_.end(), target.node) != gone_.end()) continue;  // said once already
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
  const model::Cluster& cluster = *cluster_;
  if (cluster.gateway) t.gateway = flows::PathGateway::from(*cluster.gateway, cluster.underlay);
  // From the API, the other nodes are other machines: their routes are assumed (kubenet).
  const model::Node* own = loaded_.kube ? cluster.find_node(loaded_.kube->own_node()) : nullptr;
  for (const auto& node : own != nullptr ? cluster.nodes : std::vector<model::Node>{}) {
    if (t.find_node(node.name) != nullptr) continue;
    std::optional<model::IpAddress> gw;
    if (cluster.gateway) gw = cluster.gateway->ip;
    t.nodes.push_back(flows::PathNode::assumed(node, *own, cluster.underlay, gw));
  }
  topology_ = std::move(t);
}

Result<void> Session::wait(std::chrono::milliseconds timeout, const std::atomic<bool>& stop,
                           bool wake_on_new_flow) {
  using std::chrono::milliseconds;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto events_before = new_flow_events_;
  while (!stop.load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_namespace_check_) {
      next_namespace_check_ = now + milliseconds(500);
      if (auto r = follow_namespaces(); !r) return r.error();
    }
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
  if (auto r = follow_namespaces(); !r) return r.error();
  if (auto r = reload_inventory_if_changed(); !r) return r.error();
  if (auto r = apply_kube_changes(); !r) return r.error();
  auto summary = aggregator_->update(monotonic_ns());
  if (!summary) return summary.error();
  if (auto c = loader_->datapath().read_counters()) counters_ = *c;
  if (auto m = loader_->datapath().read_matrix()) {
    matrix_ = std::move(*m);
    count_backends_in_matrix();
  }
  if (tracker_) {
    if (auto r = tracker_->refresh(); !r) spdlog::warn("containers: {}", r.error().to_string());
    if (auto c = tracker_->datapath().read_counters()) container_counters_ = *c;
  }
  rebuild_topology();
  return summary;
}

// The kernel counts a request into the matrix where it leaves the client's pod, before
// kube-proxy's DNAT: towards the ClusterIP range. For a connection joined across the DNAT,
// its packets move to the backend's CIDR (what they were counted as since their flow entry
// was created at that point; an entry expired and made again leaves its earlier packets).
void Session::count_backends_in_matrix() {
  const auto cell = [this](std::uint16_t src, std::uint16_t dst) -> bpf::MatrixCell& {
    for (auto& c : matrix_) {
      if (c.src_cidr == src && c.dst_cidr == dst) return c;
    }
    matrix_.push_back({src, dst, 0, 0});
    return matrix_.back();
  };
  for (const auto& conv : aggregator_->conversations()) {
    const flows::Flow* f = conv.forward;
    if (f == nullptr || f->nat() == nullptr || !f->nat()->dnat || !(f->key == f->nat()->original)) continue;
    const inventory::CidrEntry* backend = cidrs_->lookup(f->translated_key().dst);
    const std::uint16_t to = backend != nullptr ? backend->id : inventory::kCidrOther;
    for (const auto& p : f->points) {
      if (!p.before_nat || !p.stats.in_matrix || p.stats.dst_cidr == to) continue;
      bpf::MatrixCell& from = cell(p.stats.src_cidr, p.stats.dst_cidr);
      const std::uint64_t packets = std::min(from.packets, p.stats.packets);
      const std::uint64_t bytes = std::min(from.bytes, p.stats.bytes);
      from.packets -= packets;
      from.bytes -= bytes;
      bpf::MatrixCell& into = cell(p.stats.src_cidr, to);
      into.packets += packets;
      into.bytes += bytes;
    }
  }
  std::erase_if(matrix_, [](const bpf::MatrixCell& c) { return c.packets == 0 && c.bytes == 0; });
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

bool Session::lab_dir_exists() const {
  if (loaded_.origin != inventory::ClusterOrigin::Lab || !inventory_file_) return false;
  std::error_code ec;
  return std::filesystem::is_directory(inventory_file_->parent_path(), ec);
}

Result<void> Session::follow_namespaces() {
  using clock = std::chrono::steady_clock;
  const auto gone = loader_->gone_nodes();
  if (gone.empty()) return {};
  const auto now = clock::now();
  if (!gone_since_) {
    gone_since_ = now;
    gone_inventory_mtime_ = inventory_mtime_;
  }
  for (const auto& node : gone) {
    if (std::find(gone_.begin(), gone_.end(), node) != gone_.end()) continue;
    const auto* t = loader_->target(node);
    spdlog::warn(
        "node {}: its network namespace {} is gone; podpath waits for the inventory to name a new one", node,
        t != nullptr ? t->netns : std::string("?"));
    // Let go of it at once: what podpath attached there is removed, and the namespace is
    // no longer held alive by podpath's sockets.
    loader_->release(node);
    gone_.push_back(node);
  }

  // A lab being rebuilt writes its inventory last, as a whole: once it is new, every
  // namespace it names exists and is complete.
  std::error_code ec;
  const auto mtime = inventory_file_ ? std::filesystem::last_write_time(*inventory_file_, ec)
                                     : std::filesystem::file_time_type{};
  if (inventory_file_ && !ec && mtime != gone_inventory_mtime_) {
    if (auto r = reload_inventory(); !r) return r;
    gone_inventory_mtime_ = mtime;
    const auto targets = targets_for(*cluster_, options_.bridge, options_.uplink, options_.extra);
    for (const auto& node : gone) {
      const auto it =
          std::find_if(targets.begin(), targets.end(), [&](const NodeTarget& t) { return t.node == node; });
      if (it == targets.end() || it->netns.empty() || !net::netns_inode(it->netns)) continue;
      auto n = loader_->reattach(*it);
      if (!n) {
        return make_error(n.error().code, "node {}: cannot attach in its new network namespace {}: {}", node,
                          it->netns, n.error().message);
      }
      spdlog::info(
          "node {}: its network namespace {} was created anew; podpath attached there ({} interface(s))",
          node, it->netns, *n);
    }
    const auto left = loader_->gone_nodes();
    std::erase_if(gone_,
                  [&](const std::string& n) { return std::find(left.begin(), left.end(), n) == left.end(); });
    if (gone_.empty()) {
      gone_since_.reset();
      lab_dir_gone_since_.reset();
      rebuild_topology();
      return loader_->set_cidrs(*cidrs_, counted_at_source());
    }
  }

  // While the lab's directory exists, the lab is being taken down or built: wait for it.
  if (lab_dir_exists()) {
    lab_dir_gone_since_.reset();
    if (now - *gone_since_ < kRebuildWait) return {};
  } else if (!lab_dir_gone_since_) {
    lab_dir_gone_since_ = now;
  }
  const auto since = lab_dir_gone_since_ ? std::max(*lab_dir_gone_since_, *gone_since_) : *gone_since_;
  if (now - since < kGoneGrace) return {};
  const auto* t = loader_->target(gone_.front());
  return make_error(
      0,
      "the network namespace of node {} ({}) is gone and the inventory names no new one (was the lab "
      "taken down?); podpath stops",
      gone_.front(), t != nullptr ? t->netns : std::string("?"));
}

}  // namespace podpath::loader

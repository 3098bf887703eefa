#include "inventory/kube_source.hpp"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <type_traits>
#include <variant>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "inventory/processes.hpp"
#include "inventory/validate.hpp"
#include "net/netns.hpp"
#include "util/system.hpp"
#include "util/text.hpp"

namespace podpath::inventory {
namespace {

std::string node_names(const kube::NodeIndex& nodes) {
  std::string out;
  for (const auto* n : nodes.all()) out += (out.empty() ? "" : ", ") + n->name;
  return out.empty() ? "none" : out;
}

/// A /run/netns name for the namespace file `path`, when one is the same namespace.
std::string netns_name_of(const std::string& path) {
  struct stat target {};
  if (::stat(path.c_str(), &target) != 0) return path;
  for (const auto& name : net::named_netns()) {
    struct stat st {};
    const std::string file = net::netns_path(name);
    if (::stat(file.c_str(), &st) == 0 && st.st_dev == target.st_dev && st.st_ino == target.st_ino)
      return name;
  }
  return path;
}

}  // namespace

HostIdentity this_host() {
  HostIdentity host;
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) == 0) host.hostname = name;
  if (auto links = net::list_links()) {
    for (const auto& l : *links) {
      for (const auto& a : l.addresses) host.addresses.push_back(a.address);
    }
  }
  return host;
}

Result<std::string> find_own_node(const kube::NodeIndex& nodes, const std::optional<std::string>& hint,
                                  const HostIdentity& host) {
  if (hint) {
    if (nodes.find(*hint) == nullptr)
      return make_error(EINVAL, "unknown node '{}' (the nodes are: {})", *hint, node_names(nodes));
    return *hint;
  }
  // A kubelet registers under the hostname, lower-cased, unless told otherwise.
  std::string lower = host.hostname;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!lower.empty()) {
    if (nodes.find(lower) != nullptr) return lower;
    const auto dot = lower.find('.');
    if (dot != std::string::npos && nodes.find(lower.substr(0, dot)) != nullptr) return lower.substr(0, dot);
  }
  for (const auto* n : nodes.all()) {
    if (n->internal_ip &&
        std::find(host.addresses.begin(), host.addresses.end(), *n->internal_ip) != host.addresses.end())
      return n->name;
  }
  return std::string();
}

Result<void> check_api_names(const kube::Change& change) {
  std::string object;
  std::string field;
  std::string_view value;
  auto bad = [&](std::string_view v, const char* f) {
    value = v;
    field = f;
    return !is_object_name(v);
  };
  if (const auto* pod = std::get_if<kube::Pod>(&change.object)) {
    object = "pod " + printable(pod->full_name());
    bool refused = bad(pod->ns, "metadata.namespace") || bad(pod->name, "metadata.name") ||
                   (!pod->node.empty() && bad(pod->node, "spec.nodeName"));
    for (std::size_t i = 0; !refused && i < pod->containers.size(); ++i) {
      const auto& c = pod->containers[i];
      refused = bad(c.name, "status.containerStatuses[].name") ||
                (!c.id.empty() && bad(c.id, "status.containerStatuses[].containerID"));
    }
    if (!refused) return {};
  } else if (const auto* node = std::get_if<kube::Node>(&change.object)) {
    object = "node " + printable(node->name);
    if (!bad(node->name, "metadata.name")) return {};
  } else if (const auto* svc = std::get_if<kube::Service>(&change.object)) {
    object = "service " + printable(svc->full_name());
    if (!bad(svc->ns, "metadata.namespace") && !bad(svc->name, "metadata.name")) return {};
  } else if (const auto* slice = std::get_if<kube::EndpointSlice>(&change.object)) {
    object = "endpointslice " + printable(slice->ns + "/" + slice->name);
    bool refused = bad(slice->ns, "metadata.namespace") || bad(slice->name, "metadata.name");
    for (std::size_t i = 0; !refused && i < slice->endpoints.size(); ++i) {
      const auto& e = slice->endpoints[i];
      const auto slash = e.pod.find('/');
      refused = (!e.node.empty() && bad(e.node, "endpoints[].nodeName")) ||
                (!e.pod.empty() &&
                 (bad(std::string_view(e.pod).substr(0, slash), "endpoints[].targetRef.namespace") ||
                  bad(std::string_view(e.pod).substr(slash + 1), "endpoints[].targetRef.name")));
    }
    if (!refused) return {};
  } else {
    return {};
  }
  return make_error(EINVAL,
                    "{}: {} '{}' is not a valid name: 1-{} characters of printable UTF-8, no control "
                    "characters and no '/'",
                    object, field, printable(value), kMaxObjectName);
}

model::Cluster cluster_from_kube(const kube::NodeIndex& nodes, const kube::PodIndex& pods,
                                 const std::string& own_node, const HostFacts& host,
                                 const kube::ServiceIndex& services) {
  model::Cluster cluster;
  const model::Cluster* local = host.discovery ? &host.discovery->cluster : nullptr;
  for (const auto* n : nodes.all()) {
    model::Node node = kube::to_model_node(*n);
    if (n->name == own_node) {
      node.netns.clear();  // this host's own namespace
      if (local != nullptr && !local->nodes.empty()) {
        const model::Node& found = local->nodes.front();
        node.interfaces = found.interfaces;
        node.bridge_ip = found.bridge_ip;
        if (node.pod_cidr == model::Cidr{}) node.pod_cidr = found.pod_cidr;
        if (node.underlay_ip == model::IpAddress{}) node.underlay_ip = found.underlay_ip;
      } else {
        node.interfaces = {"", "", ""};  // the loader finds them (default route, cbr0 / cni0)
      }
    }
    cluster.nodes.push_back(std::move(node));
  }
  if (local != nullptr) {
    cluster.underlay = local->underlay;
    cluster.gateway = local->gateway;
  }
  for (const auto* p : pods.live_pods()) {
    if (!p->claims_ips() || p->ips.empty()) continue;
    model::Pod pod = kube::to_model_pod(*p);
    if (p->node == own_node && !own_node.empty()) {
      if (const auto it = host.pod_netns.find(p->uid); it != host.pod_netns.end()) pod.netns = it->second;
      if (const auto it = host.pod_veth.find(p->uid); it != host.pod_veth.end()) pod.veth = it->second;
      for (auto& c : pod.containers) {
        if (const auto it = host.cgroups.find(c.id); !c.id.empty() && it != host.cgroups.end()) {
          c.cgroup_path = it->second.path.string();
          c.cgroup_id = it->second.cgroup_id;
        }
      }
    }
    cluster.pods.push_back(std::move(pod));
  }
  cluster.services = services.model_services();
  return cluster;
}

std::optional<PodPlace> locate_pod(const model::Pod& pod, const std::vector<net::Link>& host_links) {
  for (const auto& c : pod.containers) {
    if (c.cgroup_path.empty()) continue;
    const int pid = first_pid_of(c.cgroup_path);
    if (pid <= 0) continue;
    const std::string ns = process_netns_path(pid);
    auto links = net::list_links(ns);
    if (!links) continue;
    for (const auto& l : *links) {
      const bool holds = std::any_of(l.addresses.begin(), l.addresses.end(),
                                     [&](const net::LinkAddress& a) { return a.address == pod.ip; });
      if (!holds) continue;
      PodPlace place;
      place.netns = netns_name_of(ns);
      // The veth pair's host end: its peer is this interface, and it is this one's peer.
      const net::Link* peer = net::find_link(host_links, l.link_ifindex);
      if (peer != nullptr && peer->is_veth() && peer->link_ifindex == l.ifindex) place.veth = peer->name;
      return place;
    }
    // This container's namespace does not hold the pod IP (a broken container): try another.
  }
  return std::nullopt;
}

KubeSource::~KubeSource() {
  if (watch_) watch_->stop();
}

int KubeSource::fd() const { return watch_->queue().fd(); }

bool KubeSource::healthy() const {
  return std::all_of(healthy_.begin(), healthy_.end(), [](const auto& h) { return h.second; });
}

bool KubeSource::admit(const kube::Change& change) {
  const auto names = check_api_names(change);
  if (names) return true;
  const std::string uid = std::visit(
      [](const auto& o) -> std::string {
        if constexpr (std::is_same_v<std::decay_t<decltype(o)>, std::monostate>) {
          return {};
        } else {
          return o.uid;
        }
      },
      change.object);
  if (refused_.insert(uid).second) spdlog::warn("kubernetes: skipping {}", names.error().message);
  return false;
}

void KubeSource::apply(const kube::Change& change, kube::Time now) {
  pods_.apply(change, now);
  nodes_.apply(change);
  services_.apply(change);
}

bool KubeSource::poll(kube::Time now) {
  bool changed = false;
  for (const auto& change : watch_->queue().drain()) {
    if (!admit(change)) continue;
    switch (change.type) {
    case kube::ChangeType::Added:
    case kube::ChangeType::Modified:
    case kube::ChangeType::Deleted:
      apply(change, now);
      changed = true;
      break;
    case kube::ChangeType::Health:
      note_health(change);
      break;
    case kube::ChangeType::Synced:
      break;
    }
  }
  pods_.expire(now);
  return changed;
}

void KubeSource::note_health(const kube::Change& change) {
  const bool was_healthy = healthy();
  healthy_[change.resource] = change.healthy;
  if (!change.healthy) {
    // One line per outage for all informers (and one more if its kind changes).
    if (was_healthy || change.failure != outage_) {
      spdlog::warn("kubernetes: {}; keeping the last view of the cluster, retrying", change.message);
    }
    outage_ = change.failure;
  } else if (!was_healthy && healthy()) {
    spdlog::info("kubernetes: {} answers again; pods, nodes and Services are current", description_);
    outage_ = kube::Failure::None;
  }
}

void KubeSource::refresh_cgroups(const model::Cluster& cluster) {
  if (cgroup2_.empty() || own_node_.empty()) return;
  std::set<std::string> wanted;
  for (const auto& p : cluster.pods) {
    if (p.node != own_node_) continue;
    for (const auto& c : p.containers) {
      if (!c.id.empty() && !host_.cgroups.contains(c.id)) wanted.insert(c.id);
    }
  }
  // Walk the cgroup tree only for ids it has not been searched for: a container the API
  // reports before its cgroup exists is looked for again when the set changes.
  if (wanted.empty() || wanted == cgroups_missing_) return;
  for (auto& d : discover_kubepods_cgroups(cgroup2_)) {
    if (!d.parsed.is_container() || d.parsed.runtime_monitor || !d.parsed.subpath.empty()) continue;
    host_.cgroups.insert_or_assign(d.parsed.container_id, std::move(d));
  }
  std::erase_if(wanted, [&](const std::string& id) { return host_.cgroups.contains(id); });
  cgroups_missing_ = std::move(wanted);
}

void KubeSource::locate_own_pods(const model::Cluster& cluster) {
  std::optional<std::vector<net::Link>> host_links;
  for (const auto& p : cluster.pods) {
    if (p.node != own_node_ || own_node_.empty() || host_.pod_netns.contains(p.uid)) continue;
    if (!host_links) {
      auto links = net::list_links();
      if (!links) return;
      host_links = std::move(*links);
    }
    if (const auto place = locate_pod(p, *host_links)) {
      host_.pod_netns[p.uid] = place->netns;
      if (!place->veth.empty()) host_.pod_veth[p.uid] = place->veth;
    }
  }
}

model::Cluster KubeSource::cluster() {
  model::Cluster cluster = cluster_from_kube(nodes_, pods_, own_node_, host_, services_);
  refresh_cgroups(cluster);
  const std::size_t located = host_.pod_netns.size();
  const std::size_t cgroups = host_.cgroups.size();
  cluster = cluster_from_kube(nodes_, pods_, own_node_, host_, services_);
  locate_own_pods(cluster);
  if (host_.pod_netns.size() != located || host_.cgroups.size() != cgroups)
    cluster = cluster_from_kube(nodes_, pods_, own_node_, host_, services_);
  return cluster;
}

Result<std::unique_ptr<KubeSource>> KubeSource::connect(const KubeSourceOptions& options,
                                                        const kube::ClusterConfig& config) {
  std::unique_ptr<KubeSource> s(new KubeSource());
  s->options_ = options;
  s->pods_ = kube::PodIndex(options.pod_grace);
  s->description_ = fmt::format("the Kubernetes API at {} ({})", config.server, config.source);
  for (const auto& w : config.warnings) spdlog::warn("kubernetes: {}", w);
  kube::InformerOptions informer = options.informer;
  informer.server = config.server;
  informer.log_health = false;  // note_health() logs one line for all informers
  const kube::TransportFactory transports =
      options.transports ? options.transports : kube::curl_transport_factory(config);
  s->watch_ = std::make_unique<kube::ClusterWatch>(transports, informer);
  s->watch_->start();

  // The first full list of every resource, or the first failure that waiting cannot cure.
  const auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
  std::map<kube::Resource, bool> synced;
  std::string last_problem;
  while (synced.size() < std::size(kube::ClusterWatch::kResources)) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return make_error(ETIMEDOUT, "{} (retried for {:g} s)",
                        last_problem.empty() ? "no answer from " + s->description_ : last_problem,
                        std::chrono::duration<double>(options.start_timeout).count());
    }
    pollfd pfd{s->fd(), POLLIN, 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(std::min<long>(left.count(), 200)));
    if (n < 0 && errno != EINTR) return make_error(errno, "poll on the Kubernetes informers");
    for (const auto& change : s->watch_->queue().drain()) {
      if (!s->admit(change)) continue;
      s->apply(change, std::chrono::system_clock::now());
      if (change.type == kube::ChangeType::Synced) synced[change.resource] = true;
      if (change.type == kube::ChangeType::Health && !change.healthy) {
        if (!kube::transient(change.failure)) return make_error(EACCES, "{}", change.message);
        last_problem = change.message;
      }
    }
  }
  for (const kube::Resource r : kube::ClusterWatch::kResources) s->healthy_[r] = true;

  auto own = find_own_node(s->nodes_, options.node, this_host());
  if (!own) return own.error();
  s->own_node_ = *own;
  if (s->own_node_.empty()) {
    s->notes_.push_back(fmt::format(
        "this host is none of the cluster's nodes ({}): pods are known by name only (run podpath on a node, "
        "or name this node with --node)",
        node_names(s->nodes_)));
  } else {
    s->notes_.push_back(fmt::format("this host is node {}{}", s->own_node_,
                                    options.node ? " (--node)" : " (by its hostname or address)"));
    auto local = discover_local(LocalDiscoveryOptions{});
    if (local) {
      for (auto& note : local->notes) s->notes_.push_back("local discovery: " + note);
      s->host_.discovery = std::move(*local);
    } else {
      s->notes_.push_back("local discovery of node " + s->own_node_ + " failed: " +
                          local.error().to_string() + "; the loader looks for the bridge and uplink itself");
    }
    if (const auto mount = find_mount("cgroup2")) s->cgroup2_ = *mount;
  }
  return s;
}

Result<std::unique_ptr<KubeSource>> connect_kube(const KubeSourceOptions& options) {
  kube::ConfigOptions co;
  co.kubeconfig = options.kubeconfig;
  co.getenv = options.getenv;
  co.service_account_dir = options.service_account_dir;
  auto config = kube::load_config(co);
  if (!config) return config.error();
  return KubeSource::connect(options, *config);
}

}  // namespace podpath::inventory

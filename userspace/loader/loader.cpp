#include "loader/loader.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/links.hpp"
#include "net/netns.hpp"
#include "net/routes.hpp"

namespace podpath::loader {
namespace {

// The inventory numbers CIDRs for the kernel's classifier.
static_assert(inventory::kCidrOther == bpf::kCidrOther && inventory::kMaxCidrs == bpf::kMaxCidrs);

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

/// The interface of the IPv4 (else IPv6) default route with the lowest metric.
std::string default_route_dev(const net::RouteTable& table) {
  const net::Route* best = nullptr;
  for (const auto& r : table.routes()) {
    if (!r.is_default() || r.dev.empty() || r.is_reject()) continue;
    if (best == nullptr || (r.dst.is_v4() && !best->dst.is_v4()) ||
        (r.dst.is_v4() == best->dst.is_v4() && r.metric < best->metric)) {
      best = &r;
    }
  }
  return best != nullptr ? best->dev : std::string();
}

bool vanished(const Error& e) { return e.code == ENODEV || e.code == ENOENT || e.code == ENXIO; }

}  // namespace

Result<Fd> lock_tc_slot(std::uint16_t priority) {
  ::mkdir(kSlotLockDir, 0755);
  const std::string path = fmt::format("{}/tc-{}.lock", kSlotLockDir, priority);
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) {
    spdlog::warn("cannot create {} ({}): not guarding against a second podpath on TC priority {}", path,
                 std::strerror(errno), priority);
    return Fd();
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    return make_error(
        EBUSY,
        "another podpath is running with classic TC priority {} (it holds {}): stop it, or choose "
        "another --tc-priority, or use --attach tcx",
        priority, path);
  }
  return fd;
}

std::vector<NodeTarget> targets_for(const model::Cluster& cluster, const std::string& bridge_override,
                                    const std::string& uplink_override,
                                    const std::vector<std::string>& extra) {
  std::vector<NodeTarget> out;
  for (const auto& n : cluster.nodes) {
    NodeTarget t;
    t.node = n.name;
    t.netns = n.netns;
    t.bridge = !bridge_override.empty() ? bridge_override : n.interfaces.bridge;
    t.uplink = !uplink_override.empty() ? uplink_override : n.interfaces.uplink;
    t.extra = extra;
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::unique_ptr<Loader>> Loader::start(std::vector<NodeTarget> targets, const LoaderOptions& options,
                                              const model::Cluster& cluster) {
  if (targets.empty()) return make_error(EINVAL, "nothing to watch: no node to attach to");
  std::unique_ptr<Loader> l(new Loader());
  l->options_ = options;
  l->targets_ = targets;
  l->cluster_ = cluster;
  l->features_ = bpf::probe_features();
  if (const auto problems = bpf::blocking_problems(l->features_); !problems.empty()) {
    return make_error(EPERM, "{}", join(problems, "; "));
  }
  l->mode_ = options.attach_mode.value_or(l->features_.tcx ? bpf::AttachMode::Tcx : bpf::AttachMode::Clsact);
  if (l->mode_ == bpf::AttachMode::Tcx && !l->features_.tcx) {
    return make_error(ENOTSUP, "this kernel ({}) has no tcx hooks (Linux 6.6+): use --attach clsact",
                      l->features_.kernel_release);
  }

  // Classic filters in podpath's slot are stale only if no live podpath holds the slot.
  // In tcx mode a busy slot only means: leave the classic filters alone.
  auto lock = lock_tc_slot(options.slot.priority);
  if (!lock && l->mode_ == bpf::AttachMode::Clsact) return lock.error();
  l->clean_stale_ = lock.ok();
  if (lock && l->mode_ == bpf::AttachMode::Clsact) l->slot_lock_ = std::move(*lock);

  bpf::DatapathOptions dp = options.datapath;
  dp.netns_mode = options.netns_mode.value_or(l->features_.netns_id);
  dp.coarse_clock = dp.coarse_clock && l->features_.coarse_clock;
  if (dp.netns_mode == bpf::NetnsIdMode::KernCtx && l->features_.netns_id != bpf::NetnsIdMode::KernCtx) {
    return make_error(ENOTSUP, "this kernel lacks bpf_cast_to_kern_ctx (Linux 6.3+): use --netns-mode fixed");
  }

  for (auto& t : targets) {
    TargetState s;
    s.target = t;
    auto cookie = net::netns_cookie(t.netns);
    if (!cookie) {
      return wrap_error(cookie.error(), "cannot use the network namespace of node {} ({})", t.node,
                        net::netns_display(t.netns));
    }
    s.cookie = *cookie;
    s.bridge_candidates = t.bridge.empty() ? std::vector<std::string>{"cbr0", "cni0"} : std::vector{t.bridge};
    s.uplink = t.uplink;
    if (s.uplink.empty()) {
      auto routes = net::read_routes(t.netns);
      if (!routes) return wrap_error(routes.error(), "node {}", t.node);
      s.uplink = default_route_dev(*routes);
      if (s.uplink.empty())
        spdlog::warn("node {}: no default route, so no uplink to watch (use --uplink)", t.node);
    }
    l->states_.push_back(std::move(s));
  }

  auto datapath = bpf::Datapath::load(dp, l->states_.front().cookie);
  if (!datapath) return datapath.error();
  l->datapath_ = std::move(*datapath);

  l->monitor_ =
      std::make_unique<net::LinkMonitor>([raw = l.get()](const net::LinkEvent& e) { raw->on_link_event(e); });
  for (auto& s : l->states_) {
    // Subscribe first, then list: a link that appears in between is reported, not missed.
    if (auto r = l->monitor_->watch(s.target.netns, false); !r) {
      return wrap_error(r.error(), "node {}: cannot watch links", s.target.node);
    }
    if (auto r = l->attach_target(s); !r) return r.error();
  }
  spdlog::info("podpath attached: {}", l->describe());
  return l;
}

Loader::~Loader() {
  if (auto r = stop(); !r) spdlog::warn("{}", r.error().to_string());
}

Loader::TargetState* Loader::state_for_netns(const std::string& netns) {
  for (auto& s : states_) {
    if (s.target.netns == netns) return &s;
  }
  return nullptr;
}

std::optional<model::InterfaceRole> Loader::role_of(const TargetState& state, const net::Link& link) const {
  if (link.is_loopback()) return std::nullopt;
  if (link.is_bridge() && state.bridge_ifindex == link.ifindex) return model::InterfaceRole::Bridge;
  if (!state.uplink.empty() && link.name == state.uplink) return model::InterfaceRole::Uplink;
  if (link.is_veth() && state.bridge_ifindex != 0 && link.master_ifindex == state.bridge_ifindex) {
    return model::InterfaceRole::PodVeth;
  }
  for (const auto& pattern : state.target.extra) {
    if (fnmatch(pattern.c_str(), link.name.c_str(), 0) == 0) return model::InterfaceRole::Other;
  }
  return std::nullopt;
}

Result<void> Loader::attach_target(TargetState& state) {
  auto links = net::list_links(state.target.netns);
  if (!links) return wrap_error(links.error(), "node {}", state.target.node);
  for (const auto& name : state.bridge_candidates) {
    if (const auto* b = net::find_link(*links, name); b != nullptr && b->is_bridge()) {
      state.bridge_ifindex = b->ifindex;
      break;
    }
  }
  if (state.bridge_ifindex == 0) {
    spdlog::warn("node {}: no pod bridge ({}) yet; podpath attaches when it appears", state.target.node,
                 join(state.bridge_candidates, " or "));
  }
  if (!state.uplink.empty() && net::find_link(*links, state.uplink) == nullptr) {
    return make_error(ENODEV, "node {}: uplink interface {} does not exist (choose one with --uplink)",
                      state.target.node, state.uplink);
  }
  for (const auto& link : *links) {
    const auto role = role_of(state, link);
    if (!role) continue;
    if (auto r = attach(state, link, *role); !r) {
      if (vanished(r.error())) {
        spdlog::info("node {}: {} vanished while podpath attached to it", state.target.node, link.name);
        continue;
      }
      return r;
    }
  }
  return {};
}

Result<void> Loader::attach(TargetState& state, const net::Link& link, model::InterfaceRole role) {
  const auto key = std::make_pair(state.cookie, link.ifindex);
  if (attachments_.count(key) != 0) return {};
  const auto layer = bpf::link_layer_of(link.link_type);
  if (!layer) {
    return make_error(ENOTSUP,
                      "node {}: cannot watch {}: its packets have neither an Ethernet header nor start at "
                      "the IP header (link type {}), which podpath cannot parse",
                      state.target.node, link.name, link.link_type);
  }
  auto progs = datapath_->programs_for(state.cookie, *layer);
  if (!progs) return progs.error();
  const auto mode = mode_;
  const auto slot = options_.slot;
  const auto ifindex = static_cast<int>(link.ifindex);
  auto hooks = net::in_netns(state.target.netns,
                             [&]() { return bpf::InterfaceHooks::attach(mode, ifindex, *progs, slot); });
  if (!hooks) {
    return wrap_error(hooks.error(), "node {}: cannot attach to {}", state.target.node, link.name);
  }
  if (auto r = datapath_->set_iface_role(state.cookie, link.ifindex, role); !r) return r;
  Attachment a;
  a.info = {state.target.node,
            state.target.netns,
            state.cookie,
            link.ifindex,
            link.name,
            role,
            role == model::InterfaceRole::PodVeth ? pod_for_veth(state.target.node, link.name)
                                                  : std::string()};
  a.hooks = std::move(*hooks);
  spdlog::debug("node {}: attached to {} ({}, ifindex {})", state.target.node, link.name,
                model::to_string(role), link.ifindex);
  attachments_.emplace(key, std::move(a));
  return {};
}

void Loader::forget(TargetState& state, std::uint32_t ifindex, bool interface_gone) {
  const auto it = attachments_.find({state.cookie, ifindex});
  if (it == attachments_.end()) return;
  if (interface_gone) {
    // The kernel removed the filters (or auto-detached the links) with the device.
    it->second.hooks->abandon();
  } else {
    auto r = net::in_netns(state.target.netns, [&]() { return it->second.hooks->detach(); });
    if (!r)
      spdlog::warn("node {}: cannot detach from {}: {}", state.target.node, it->second.info.name,
                   r.error().to_string());
  }
  (void)datapath_->forget_iface(state.cookie, ifindex);
  spdlog::debug("node {}: forgot {} (ifindex {})", state.target.node, it->second.info.name, ifindex);
  attachments_.erase(it);
}

void Loader::on_link_event(const net::LinkEvent& event) {
  if (stopped_) return;
  TargetState* state = state_for_netns(event.netns);
  if (state == nullptr) return;
  const auto& link = event.link;
  if (event.type == net::LinkEventType::Removed) {
    if (link.ifindex == state->bridge_ifindex) state->bridge_ifindex = 0;
    forget(*state, link.ifindex, true);
    return;
  }
  bool new_bridge = false;
  if (state->bridge_ifindex == 0 && link.is_bridge() &&
      std::find(state->bridge_candidates.begin(), state->bridge_candidates.end(), link.name) !=
          state->bridge_candidates.end()) {
    state->bridge_ifindex = link.ifindex;
    new_bridge = true;
  }
  const auto role = role_of(*state, link);
  const bool attached = attachments_.count({state->cookie, link.ifindex}) != 0;
  if (role && !attached) {
    if (auto r = attach(*state, link, *role); !r) {
      if (vanished(r.error())) {
        spdlog::info("node {}: {} vanished while podpath attached to it", state->target.node, link.name);
      } else {
        spdlog::warn("{}", r.error().to_string());
      }
    }
  } else if (!role && attached) {
    forget(*state, link.ifindex, false);  // e.g. a veth taken off the bridge
  }
  if (new_bridge) {
    for (const auto& port : monitor_->links(state->target.netns)) {
      if (port.master_ifindex == link.ifindex)
        on_link_event({event.netns, net::LinkEventType::Changed, port});
    }
  }
}

Result<int> Loader::poll_links(std::chrono::milliseconds timeout) {
  if (stopped_) return 0;
  return monitor_->poll(timeout);
}

std::vector<int> Loader::link_fds() const { return monitor_ ? monitor_->fds() : std::vector<int>{}; }

void Loader::set_cluster(const model::Cluster& cluster) {
  cluster_ = cluster;
  for (auto& [key, a] : attachments_) {
    if (a.info.role == model::InterfaceRole::PodVeth) a.info.pod = pod_for_veth(a.info.node, a.info.name);
  }
}

Result<void> Loader::set_cidrs(const inventory::CidrTable& table,
                               const std::vector<std::string>& counted_at_source) {
  std::vector<bpf::CidrRule> rules;
  for (const auto& e : table.entries()) {
    const bool at_source =
        e.counted_at_source() &&
        std::find(counted_at_source.begin(), counted_at_source.end(), e.node) != counted_at_source.end();
    rules.push_back({e.cidr, e.id, at_source});
  }
  return datapath_->set_cidrs(rules);
}

std::string Loader::pod_for_veth(const std::string& node, const std::string& veth) const {
  for (const auto& p : cluster_.pods) {
    if (p.node == node && p.veth == veth) return p.full_name();
  }
  return {};
}

Result<void> Loader::stop() {
  if (stopped_) return {};
  stopped_ = true;
  monitor_.reset();
  std::vector<std::string> failures;
  for (auto& [key, a] : attachments_) {
    Result<void> r = mode_ == bpf::AttachMode::Tcx
                         ? a.hooks->detach()  // closing link fds works from any namespace
                         : net::in_netns(a.info.netns, [&]() { return a.hooks->detach(); });
    if (!r) failures.push_back(fmt::format("{} {}: {}", a.info.node, a.info.name, r.error().to_string()));
  }
  const auto n = attachments_.size();
  attachments_.clear();
  if (!failures.empty()) return make_error(0, "podpath could not detach from: {}", join(failures, "; "));
  spdlog::info("podpath detached from {} interface(s)", n);
  return {};
}

std::vector<AttachedInterface> Loader::interfaces() const {
  std::vector<AttachedInterface> out;
  for (const auto& [key, a] : attachments_) out.push_back(a.info);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return std::tie(a.node, a.name) < std::tie(b.node, b.name); });
  return out;
}

std::uint64_t Loader::netns_cookie(const std::string& node) const {
  for (const auto& s : states_) {
    if (s.target.node == node) return s.cookie;
  }
  return 0;
}

std::map<flows::InterfaceRef, flows::ObservedInterface> Loader::observed_interfaces() const {
  std::map<flows::InterfaceRef, flows::ObservedInterface> out;
  for (const auto& [key, a] : attachments_) {
    out[{a.info.netns_cookie, a.info.ifindex}] = {a.info.node, a.info.name, a.info.role, a.info.pod};
  }
  return out;
}

std::string Loader::describe() const {
  return fmt::format("{}, {} interface(s) on {} node(s), namespace ids: {}", bpf::to_string(mode_),
                     attachments_.size(), states_.size(), bpf::to_string(datapath_->options().netns_mode));
}

}  // namespace podpath::loader

#include "loader/loader.hpp"

#include <fmt/format.h>
#include <fnmatch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "loader/journal.hpp"
#include "loader/leftovers.hpp"
#include "loader/slot_lock.hpp"
#include "net/links.hpp"
#include "net/netns.hpp"
#include "net/routes.hpp"

namespace podpath::loader {
namespace {

// The inventory numbers CIDRs for the kernel's classifier.
static_assert(inventory::kCidrOther == bpf::kCidrOther && inventory::kMaxCidrs == bpf::kMaxCidrs);

/// Namespaces attached in at once. Attaching is mostly waiting on the kernel (a tcx attach
/// waits for an RCU grace period), so more threads than CPUs pay off (docs/benchmarks.md).
constexpr unsigned kDefaultAttachThreads = 8;

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

/// Runs fn(0) .. fn(n-1) on up to `threads` threads; an exception is rethrown after all ended.
template <typename F> void parallel_for(std::size_t n, unsigned threads, F&& fn) {
  if (n <= 1 || threads <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr thrown;
  std::mutex mutex;
  const auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      try {
        fn(i);
      } catch (...) {
        const std::lock_guard lock(mutex);
        if (!thrown) thrown = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < std::min<std::size_t>(n, threads); ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (thrown) std::rethrow_exception(thrown);
}

}  // namespace

/// podpath's hooks on one interface, owned: destroying them detaches them, inside the
/// namespace they were attached in, so that no error path can leave them behind. Classic
/// filters are recorded in the run's journal while attached (loader/journal.hpp).
class Loader::OwnedHooks {
 public:
  OwnedHooks(std::shared_ptr<const Fd> netns, std::unique_ptr<bpf::InterfaceHooks> hooks,
             std::uint64_t record)
      : netns_(std::move(netns)), hooks_(std::move(hooks)), record_(record), ifindex_(hooks_->ifindex()) {}
  ~OwnedHooks() {
    try {
      if (auto r = detach(); !r) spdlog::warn("{}", r.error().to_string());
    } catch (const std::exception& e) {
      spdlog::warn("cannot detach from ifindex {}: {}", ifindex_, e.what());
    } catch (...) {
      // A destructor must not throw: it may run while an exception unwinds.
    }
  }
  OwnedHooks(const OwnedHooks&) = delete;
  OwnedHooks& operator=(const OwnedHooks&) = delete;

  /// Detaches, entering the namespace when classic filters need it.
  Result<void> detach() {
    if (!hooks_) return {};
    if (hooks_->mode() == bpf::AttachMode::Tcx || !netns_ || !*netns_) return detach_here();
    return net::in_netns(*netns_, [&] { return detach_here(); });
  }
  /// Detaches from the calling thread, which is in the right namespace already.
  Result<void> detach_here() {
    if (!hooks_) return {};
    auto r = hooks_->detach();
    if (!r) return r;  // kept: what is left stays in the journal, for `podpath cleanup`
    done();
    return {};
  }
  /// The interface is gone, and the kernel removed the hooks with it.
  void abandon() {
    if (!hooks_) return;
    hooks_->abandon();
    done();
  }
  /// Gives up after a failed detach: what is left stays recorded for `podpath cleanup`.
  void release() {
    if (!hooks_) return;
    hooks_->abandon();
    hooks_.reset();
  }

 private:
  void done() {
    Journal::process().retire(record_);
    hooks_.reset();
  }

  std::shared_ptr<const Fd> netns_;
  std::unique_ptr<bpf::InterfaceHooks> hooks_;
  std::uint64_t record_ = 0;
  int ifindex_ = 0;
};

struct Loader::Batch {
  struct Made {
    Planned plan;
    std::unique_ptr<OwnedHooks> hooks;
    int replaced_stale = 0;
  };
  std::vector<Made> made;
  std::vector<std::string> vanished;  // interfaces gone while podpath attached to them
  Result<void> status;
};

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

namespace {

Error interrupted() {
  return make_error(0, "stopped by a signal while attaching; podpath removed everything it had attached");
}

}  // namespace

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

  if (l->mode_ == bpf::AttachMode::Clsact) {
    // A clsact run holds its slot's lock for its whole life: podpath filters in a slot whose
    // lock is free are stale, so no podpath ever takes a live one's filters for stale ones.
    auto lock = lock_tc_slot(options.slot.priority);
    if (!lock) return lock.error();
    l->slot_lock_ = std::move(*lock);
    CleanupOptions leftovers;
    leftovers.held_priority = options.slot.priority;
    leftovers.cgroups = false;
    const auto report = clean_leftovers(leftovers);
    for (const auto& line : report.removed) spdlog::info("{}", line);
    for (const auto& line : report.kept) spdlog::debug("{}", line);
  } else if (const auto pids = unclean_run_pids(); !pids.empty()) {
    // tcx runs leave the classic slots alone (taking a slot's lock, even for a moment, would
    // turn a clsact run starting at the same time away): a hint is all they give.
    std::vector<std::string> names;
    for (int pid : pids) names.push_back(std::to_string(pid));
    spdlog::info(
        "{} earlier podpath run(s) (pid {}) ended without cleaning up and may have left classic TC filters "
        "running: 'podpath cleanup' removes them",
        pids.size(), join(names, ", "));
  }

  bpf::DatapathOptions dp = options.datapath;
  dp.netns_mode = options.netns_mode.value_or(l->features_.netns_id);
  dp.coarse_clock = dp.coarse_clock && l->features_.coarse_clock;
  dp.nat = l->features_.nat && dp.netns_mode == bpf::NetnsIdMode::KernCtx;
  if (!dp.nat) {
    spdlog::info("NAT is not followed on this kernel (needs Linux 6.3+ with conntrack built in and BTF): "
                 "connections to a Service show as two conversations, before and after kube-proxy's DNAT");
  }
  if (dp.netns_mode == bpf::NetnsIdMode::KernCtx && l->features_.netns_id != bpf::NetnsIdMode::KernCtx) {
    return make_error(ENOTSUP, "this kernel lacks bpf_cast_to_kern_ctx (Linux 6.3+): use --netns-mode fixed");
  }

  for (auto& t : targets) {
    if (l->cancelled()) return interrupted();
    TargetState s;
    s.target = t;
    if (auto r = l->open_target(s); !r) return r.error();
    l->states_.push_back(std::move(s));
  }

  auto datapath = bpf::Datapath::load(dp, l->states_.front().cookie);
  if (!datapath) return datapath.error();
  l->datapath_ = std::move(*datapath);

  l->monitor_ =
      std::make_unique<net::LinkMonitor>([raw = l.get()](const net::LinkEvent& e) { raw->on_link_event(e); });
  std::vector<TargetState*> all;
  for (auto& s : l->states_) {
    // Subscribe first, then list: a link that appears in between is reported, not missed.
    if (auto r = l->monitor_->watch(s.target.netns, false); !r) {
      return wrap_error(r.error(), "node {}: cannot watch links", s.target.node);
    }
    all.push_back(&s);
  }
  if (auto r = l->attach_targets(all); !r) return r.error();
  spdlog::info("podpath attached: {}", l->describe());
  return l;
}

Loader::~Loader() {
  try {
    if (auto r = stop(); !r) spdlog::warn("{}", r.error().to_string());
  } catch (const std::exception& e) {
    spdlog::warn("podpath could not detach everything: {}", e.what());
  } catch (...) {
    // A destructor must not throw: it may run while an exception unwinds.
  }
}

Loader::TargetState* Loader::state_for_netns(const std::string& netns) {
  for (auto& s : states_) {
    if (s.target.netns == netns) return &s;
  }
  return nullptr;
}

Loader::TargetState* Loader::state_for_node(const std::string& node) {
  for (auto& s : states_) {
    if (s.target.node == node) return &s;
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

Result<void> Loader::open_target(TargetState& s) {
  const auto& t = s.target;
  const auto cannot = [&](const Error& e) {
    return make_error(e.code, "cannot use the network namespace of node {} ({}): {}", t.node,
                      net::netns_display(t.netns), e.message);
  };
  if (!t.netns.empty()) {
    auto fd = net::open_netns(t.netns);
    if (!fd) return cannot(fd.error());
    auto inode = net::netns_inode(*fd);
    if (!inode) return cannot(inode.error());
    s.netns_inode = *inode;
    s.netns_fd = std::make_shared<const Fd>(std::move(*fd));
  }
  // Everything below is read through the open namespace, so it is that one even if the
  // name is given to another namespace meanwhile.
  const Fd none;
  const Fd& ns = s.netns_fd ? *s.netns_fd : none;
  auto cookie = net::in_netns(ns, [] { return net::netns_cookie(""); });
  if (!cookie) return cannot(cookie.error());
  s.cookie = *cookie;
  s.bridge_candidates = t.bridge.empty() ? std::vector<std::string>{"cbr0", "cni0"} : std::vector{t.bridge};
  s.uplink = t.uplink;
  if (s.uplink.empty()) {
    auto routes = net::in_netns(ns, [] { return net::read_routes(""); });
    if (!routes) return make_error(routes.error().code, "node {}: {}", t.node, routes.error().to_string());
    s.uplink = default_route_dev(*routes);
    if (s.uplink.empty())
      spdlog::warn("node {}: no default route, so no uplink to watch (use --uplink)", t.node);
  }
  return {};
}

Result<Loader::NamespacePrograms> Loader::programs_of(std::uint64_t cookie) {
  auto ethernet = datapath_->programs_for(cookie, bpf::LinkLayer::Ethernet);
  if (!ethernet) return ethernet.error();
  auto l3 = datapath_->programs_for(cookie, bpf::LinkLayer::None);
  if (!l3) return l3.error();
  return NamespacePrograms{*ethernet, *l3};
}

Loader::Batch Loader::attach_batch(TargetState& state, const NamespacePrograms& progs,
                                   std::vector<Planned> given) {
  Batch b;
  const bool classic = mode_ == bpf::AttachMode::Clsact;
  const auto& node = state.target.node;
  const Fd none;
  b.status = net::in_netns(state.netns_fd ? *state.netns_fd : none, [&]() -> Result<void> {
    std::vector<Planned> plan = std::move(given);
    if (plan.empty()) {
      auto links = net::list_links("");
      if (!links) return make_error(links.error().code, "node {}: {}", node, links.error().to_string());
      for (const auto& name : state.bridge_candidates) {
        if (const auto* br = net::find_link(*links, name); br != nullptr && br->is_bridge()) {
          state.bridge_ifindex = br->ifindex;
          break;
        }
      }
      if (state.bridge_ifindex == 0) {
        spdlog::warn("node {}: no pod bridge ({}) yet; podpath attaches when it appears", node,
                     join(state.bridge_candidates, " or "));
      }
      if (!state.uplink.empty() && net::find_link(*links, state.uplink) == nullptr) {
        return make_error(ENODEV, "node {}: uplink interface {} does not exist (choose one with --uplink)",
                          node, state.uplink);
      }
      for (const auto& link : *links) {
        if (const auto role = role_of(state, link);
            role && attachments_.count({state.cookie, link.ifindex}) == 0)
          plan.push_back({link, *role});
      }
    }
    for (const auto& p : plan) {
      if (cancelled()) return interrupted();
      const auto layer = bpf::link_layer_of(p.link.link_type);
      if (!layer) {
        return make_error(
            ENOTSUP,
            "node {}: cannot watch {}: its packets have neither an Ethernet header nor start at "
            "the IP header (link type {}), which podpath cannot parse",
            node, p.link.name, p.link.link_type);
      }
      std::uint64_t record = 0;
      bpf::AttachOptions how;
      how.replace_stale = classic;  // a clsact run holds its slot's lock
      if (classic) {
        how.before_filters = [&](const bpf::InterfaceHooks& h) {
          record = Journal::process().add(
              TcRecord{node, state.target.netns, state.cookie, p.link.ifindex, p.link.name, h.slot().priority,
                       h.slot().handle, h.ingress_prog_id(), h.egress_prog_id(), h.created_qdisc()});
        };
      }
      auto hooks = bpf::InterfaceHooks::attach(mode_, static_cast<int>(p.link.ifindex),
                                               progs.for_layer(*layer), options_.slot, how);
      if (!hooks) {
        Journal::process().retire(record);  // attach() removed what it had added
        if (vanished(hooks.error())) {
          b.vanished.push_back(p.link.name);
          continue;
        }
        return make_error(hooks.error().code, "node {}: cannot attach to {} (ifindex {}): {}", node,
                          p.link.name, p.link.ifindex, hooks.error().message);
      }
      const int replaced = (*hooks)->replaced_stale();
      b.made.push_back(
          {p, std::make_unique<OwnedHooks>(state.netns_fd, std::move(*hooks), record), replaced});
    }
    return {};
  });
  return b;
}

Result<std::size_t> Loader::finish_batch(TargetState& state, Batch& batch) {
  const auto& node = state.target.node;
  for (const auto& name : batch.vanished)
    spdlog::info("node {}: {} vanished while podpath attached to it", node, name);
  std::size_t n = 0;
  for (auto& m : batch.made) {
    const auto& link = m.plan.link;
    if (m.replaced_stale > 0) {
      spdlog::info("node {}: {}: replaced {} stale podpath TC filter(s) of a run that was killed", node,
                   link.name, m.replaced_stale);
    }
    // On failure, the hooks of this interface and of the ones after it are detached as the
    // batch goes.
    if (auto r = datapath_->set_iface_role(state.cookie, link.ifindex, m.plan.role); !r) {
      return make_error(r.error().code, "node {}: {}: {}", node, link.name, r.error().message);
    }
    Attachment a;
    a.info = {node,
              state.target.netns,
              state.cookie,
              link.ifindex,
              link.name,
              m.plan.role,
              m.plan.role == model::InterfaceRole::PodVeth ? pod_for_veth(node, link.name) : std::string()};
    a.hooks = std::move(m.hooks);
    spdlog::debug("node {}: attached to {} ({}, ifindex {})", node, link.name, model::to_string(m.plan.role),
                  link.ifindex);
    attachments_.emplace(std::make_pair(state.cookie, link.ifindex), std::move(a));
    ++n;
  }
  return n;
}

Result<std::size_t> Loader::attach_targets(const std::vector<TargetState*>& states) {
  std::vector<NamespacePrograms> progs;  // looked up here: programs_for may load an object
  for (auto* s : states) {
    auto p = programs_of(s->cookie);
    if (!p) return p.error();
    progs.push_back(*p);
  }
  std::vector<Batch> batches(states.size());
  const unsigned threads = options_.attach_threads != 0 ? options_.attach_threads : kDefaultAttachThreads;
  parallel_for(states.size(), threads,
               [&](std::size_t i) { batches[i] = attach_batch(*states[i], progs[i], {}); });
  // Whatever fails, the hooks made so far are detached as `batches` goes.
  if (cancelled()) return interrupted();
  for (const auto& b : batches) {
    if (!b.status) return b.status.error();
  }
  std::size_t n = 0;
  for (std::size_t i = 0; i < states.size(); ++i) {
    auto r = finish_batch(*states[i], batches[i]);
    if (!r) return r.error();
    n += *r;
  }
  return n;
}

void Loader::forget(TargetState& state, std::uint32_t ifindex, bool interface_gone) {
  const auto it = attachments_.find({state.cookie, ifindex});
  if (it == attachments_.end()) return;
  if (interface_gone) {
    // The kernel removed the filters (or auto-detached the links) with the device.
    it->second.hooks->abandon();
  } else if (auto r = it->second.hooks->detach(); !r) {
    spdlog::warn("node {}: cannot detach from {}: {}", state.target.node, it->second.info.name,
                 r.error().to_string());
    it->second.hooks->release();
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
    auto progs = programs_of(state->cookie);
    if (!progs) {
      spdlog::warn("node {}: {}", state->target.node, progs.error().to_string());
    } else {
      Batch b = attach_batch(*state, *progs, {Planned{link, *role}});
      if (!b.status) {
        spdlog::warn("{}", b.status.error().to_string());
      } else if (auto r = finish_batch(*state, b); !r) {
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

std::vector<std::string> Loader::detach_all(const TargetState* only) {
  // Group by namespace: classic filters are removed from inside it, one hop per namespace,
  // the namespaces in parallel; tcx links are closed from anywhere.
  std::vector<const TargetState*> states;
  for (const auto& s : states_) {
    if (only == nullptr || &s == only) states.push_back(&s);
  }
  std::vector<std::string> failures;
  std::mutex mutex;
  const auto fail = [&](const Attachment& a, const Error& e) {
    const std::lock_guard lock(mutex);
    failures.push_back(fmt::format("{} {}: {}", a.info.node, a.info.name, e.to_string()));
  };
  parallel_for(states.size(), kDefaultAttachThreads, [&](std::size_t i) {
    const TargetState& s = *states[i];
    std::vector<Attachment*> mine;
    for (auto& [key, a] : attachments_) {
      if (key.first == s.cookie) mine.push_back(&a);
    }
    const bool hop = mode_ == bpf::AttachMode::Clsact && s.netns_fd && *s.netns_fd;
    const auto run = [&]() -> Result<void> {
      for (auto* a : mine) {
        if (auto r = a->hooks->detach_here(); !r) {
          fail(*a, r.error());
          a->hooks->release();
        }
      }
      return {};
    };
    auto entered = hop ? net::in_netns(*s.netns_fd, run) : run();
    if (!entered) {
      for (auto* a : mine) {
        fail(*a, entered.error());
        a->hooks->release();
      }
    }
  });
  return failures;
}

Result<void> Loader::stop() {
  if (stopped_) return {};
  stopped_ = true;
  monitor_.reset();
  const auto failures = detach_all(nullptr);
  const auto n = attachments_.size();
  attachments_.clear();
  if (!failures.empty()) return make_error(0, "podpath could not detach from: {}", join(failures, "; "));
  spdlog::info("podpath detached from {} interface(s)", n);
  return {};
}

std::vector<std::string> Loader::gone_nodes() const {
  std::vector<std::string> out;
  for (const auto& s : states_) {
    if (s.target.netns.empty()) continue;  // podpath's own namespace
    // While podpath holds the namespace open its inode cannot be given to another one; once
    // released (a gone namespace), it can, so a released node stays gone until reattached.
    auto inode = net::netns_inode(s.target.netns);
    if (!s.netns_fd || !inode || *inode != s.netns_inode) out.push_back(s.target.node);
  }
  return out;
}

void Loader::release(const std::string& node) {
  TargetState* state = state_for_node(node);
  if (state == nullptr || stopped_) return;
  // The old namespace is still open: what podpath attached there is removed properly.
  for (const auto& f : detach_all(state)) spdlog::warn("cannot detach: {}", f);
  for (auto it = attachments_.begin(); it != attachments_.end();) {
    if (it->first.first != state->cookie) {
      ++it;
      continue;
    }
    (void)datapath_->forget_iface(state->cookie, it->first.second);
    it = attachments_.erase(it);
  }
  monitor_->unwatch(state->target.netns);
  state->netns_fd.reset();
  state->bridge_ifindex = 0;
}

Result<std::size_t> Loader::reattach(const NodeTarget& target) {
  if (stopped_) return make_error(0, "podpath has stopped");
  TargetState* state = state_for_node(target.node);
  if (state == nullptr) return make_error(EINVAL, "node {} is not watched", target.node);
  release(target.node);
  TargetState fresh;
  fresh.target = target;
  auto opened = open_target(fresh);
  *state = std::move(fresh);  // lets go of the old namespace, so the kernel can free it
  for (auto& t : targets_) {
    if (t.node == target.node) t = target;
  }
  if (!opened) return opened.error();
  if (auto r = monitor_->watch(state->target.netns, false); !r) {
    return make_error(r.error().code, "node {}: cannot watch links: {}", target.node, r.error().to_string());
  }
  return attach_targets({state});
}

const NodeTarget* Loader::target(const std::string& node) const {
  for (const auto& t : targets_) {
    if (t.node == node) return &t;
  }
  return nullptr;
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

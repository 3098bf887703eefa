#include "server/drop_watch.hpp"

#include <linux/capability.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "net/netns.hpp"
#include "util/system.hpp"

namespace podpath::server {

DropWatch::DropWatch(const loader::Session& session, std::vector<std::string> nodes, std::string log_node,
                     OnKept on_kept)
    : nodes_(std::move(nodes)), on_kept_(std::move(on_kept)), log_(std::move(log_node), kDropsKept) {
  // Events arrive from the ring buffer at poll(); they are placed at the next refresh, once
  // the interfaces and pods they name are known.
  auto tracker = bpf::DropTracker::start(bpf::DropOptions{}, [this](const bpf::DropEvent& e) {
    if (pending_.size() < kDropsKept) pending_.push_back(e);
  });
  if (!tracker) {
    mode_ = "not tracked: " + tracker.error().to_string();
    spdlog::warn("drops {}", mode_);
  } else {
    tracker_ = std::move(*tracker);
    std::vector<model::Cidr> cidrs;
    for (const auto& e : session.cidrs().entries()) cidrs.push_back(e.cidr);
    if (auto r = tracker_->set_cidrs(cidrs); !r) spdlog::warn("drops: {}", r.error().to_string());
    mode_ = tracker_->describe();
    if (auto k = Kallsyms::load()) {
      kallsyms_ = std::move(*k);
    } else {
      spdlog::info("{}: drop locations stay numeric", k.error().to_string());
    }
  }
  index_places(session);
}

DropWatch::~DropWatch() = default;

void DropWatch::index_places(const loader::Session& session) {
  // Drops carry the cookie of the namespace they happened in. A watched node's is known from
  // attaching; the others need entering each namespace once (CAP_SYS_ADMIN): without it,
  // drops in pods are shown by cookie.
  const model::Cluster& cluster = session.cluster();
  const auto watched = [this](const std::string& node) {
    return std::find(nodes_.begin(), nodes_.end(), node) != nodes_.end();
  };
  std::map<std::uint64_t, NetnsPlace> places;
  const bool may_enter = has_capability(CAP_SYS_ADMIN);
  if (may_enter) {
    for (const auto& n : cluster.nodes) {
      if (watched(n.name) || n.netns.empty()) continue;
      if (auto c = net::netns_cookie(n.netns)) places[*c] = {NetnsPlace::Kind::OtherNode, n.name, n.name};
    }
    for (const auto& p : cluster.pods) {
      if (p.netns.empty()) continue;
      if (auto c = net::netns_cookie(p.netns)) {
        places[*c] = watched(p.node) ? NetnsPlace{NetnsPlace::Kind::Pod, p.full_name(), p.node}
                                     : NetnsPlace{NetnsPlace::Kind::OtherNode, p.node, p.node};
      }
    }
  }
  for (const auto& node : nodes_) {
    if (const auto cookie = session.loader().netns_cookie(node); cookie != 0)
      places[cookie] = {NetnsPlace::Kind::Node, node, node};
  }
  places_pods_ = cluster.pods.size();
  log_.set_places(std::move(places));
}

void DropWatch::poll() {
  if (!tracker_) return;
  if (auto r = tracker_->poll(0); !r) spdlog::warn("drops: {}", r.error().to_string());
}

void DropWatch::place(const bpf::DropEvent& e, const loader::Session& session) {
  const std::string location =
      kallsyms_ ? kallsyms_->symbolize(e.location) : fmt::format("{:#x}", e.location);
  if (auto placed = log_.add(e, location, session.resolver()); placed && on_kept_)
    on_kept_(e.reason_name.empty() ? "unknown" : e.reason_name, placed->role);
}

void DropWatch::refresh(const loader::Session& session) {
  if (session.cluster().pods.size() != places_pods_) index_places(session);
  log_.set_interfaces(session.loader().interfaces());
  for (const auto& e : pending_) place(e, session);
  pending_.clear();
}

std::optional<bpf::DropCounters> DropWatch::counters() const {
  if (!tracker_) return std::nullopt;
  auto c = tracker_->read_counters();
  if (!c) return std::nullopt;
  return *c;
}

}  // namespace podpath::server

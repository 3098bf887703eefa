#include "flows/aggregator.hpp"

#include <netinet/in.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace podpath::flows {
namespace {

constexpr double kNsPerSecond = 1e9;

/// The source's counters went backwards or the entry was created anew: the map entry
/// was evicted (LRU) or deleted and has started again.
bool was_reset(const model::FlowStats& before, const model::FlowStats& now) {
  return now.packets < before.packets || now.bytes < before.bytes ||
         (before.first_seen_ns != 0 && now.first_seen_ns != before.first_seen_ns);
}

/// First-seen times closer than this are a tie: the kernel's coarse clock ticks every
/// 1-10 ms, so a request and its reply often share a timestamp.
constexpr std::uint64_t kSameTickNs = 10'000'000;

/// True when `a` should be shown as the forward direction of the pair (a, b): an ICMP echo
/// request (it is the initiator whatever the clocks say: podpath attaching in the middle of
/// a ping, interface by interface, can see a reply before its request); else the one seen
/// clearly first; else the one towards the lower port (clients use high ephemeral ports,
/// servers listen on low ones); else by key.
bool initiated_first(const Flow& a, const Flow& b) {
  if (a.key.is_echo_request() != b.key.is_echo_request()) return a.key.is_echo_request();
  if (a.first_seen_ns != 0 && b.first_seen_ns != 0) {
    const auto gap = a.first_seen_ns > b.first_seen_ns ? a.first_seen_ns - b.first_seen_ns
                                                       : b.first_seen_ns - a.first_seen_ns;
    if (gap > kSameTickNs) return a.first_seen_ns < b.first_seen_ns;
  }
  const bool a_to_server = a.key.dport < a.key.sport;
  const bool b_to_server = b.key.dport < b.key.sport;
  if (a_to_server != b_to_server && !a.key.is_icmp()) return a_to_server;
  return a.key < b.key;
}

}  // namespace

std::uint64_t Flow::packets() const {
  std::uint64_t best = 0;
  for (const auto& p : points) best = std::max(best, p.packets);
  return best;
}

std::uint64_t Flow::bytes() const {
  std::uint64_t best = 0;
  for (const auto& p : points) best = std::max(best, p.bytes);
  return best;
}

double Flow::pps() const {
  double best = 0;
  for (const auto& p : points) best = std::max(best, p.pps);
  return best;
}

double Flow::bps() const {
  double best = 0;
  for (const auto& p : points) best = std::max(best, p.bps);
  return best;
}

std::uint32_t Flow::tcp_flags() const {
  std::uint32_t flags = 0;
  for (const auto& p : points) flags |= p.stats.tcp_flags;
  return flags;
}

const PointStats* Flow::at(const model::ObservationPoint& point) const {
  const auto it =
      std::find_if(points.begin(), points.end(), [&](const PointStats& p) { return p.point == point; });
  return it == points.end() ? nullptr : &*it;
}

double Conversation::bps() const { return (forward ? forward->bps() : 0) + (reverse ? reverse->bps() : 0); }
double Conversation::pps() const { return (forward ? forward->pps() : 0) + (reverse ? reverse->pps() : 0); }
std::uint64_t Conversation::packets() const {
  return (forward ? forward->packets() : 0) + (reverse ? reverse->packets() : 0);
}

Result<UpdateSummary> Aggregator::update(std::uint64_t now_ns) {
  auto records = source_.read();
  if (!records) return records.error();
  UpdateSummary summary;
  summary.records = records->size();
  const std::uint64_t interval = updated_once_ && now_ns > last_update_ns_ ? now_ns - last_update_ns_ : 0;
  const double seconds = static_cast<double>(interval) / kNsPerSecond;

  start_interval();
  for (const auto& rec : *records) apply(rec, now_ns, seconds, summary);
  for (auto& [key, flow] : flows_) settle(flow);
  expire_idle(now_ns, summary);

  last_update_ns_ = now_ns;
  interval_ns_ = interval;
  updated_once_ = true;
  return summary;
}

void Aggregator::start_interval() {
  for (auto& [key, flow] : flows_) {
    for (auto& p : flow.points) {
      p.present = false;
      p.delta_packets = p.delta_bytes = 0;
      p.pps = p.bps = 0;
    }
  }
}

void Aggregator::apply(const model::FlowRecord& rec, std::uint64_t now_ns, double seconds,
                       UpdateSummary& summary) {
  auto [it, inserted] = flows_.try_emplace(rec.key);
  Flow& flow = it->second;
  if (inserted) {
    flow.key = rec.key;
    ++summary.new_flows;
  }
  auto pit = std::find_if(flow.points.begin(), flow.points.end(),
                          [&](const PointStats& p) { return p.point == rec.point; });
  if (pit == flow.points.end()) {
    PointStats fresh;
    fresh.point = rec.point;
    fresh.delta_packets = rec.stats.packets;
    fresh.delta_bytes = rec.stats.bytes;
    fresh.last_active_ns = now_ns;
    fresh.stats = rec.stats;
    flow.points.push_back(fresh);
    pit = flow.points.end() - 1;
  } else if (pit->present) {
    return;  // the same entry twice in one read: keep the first
  } else if (was_reset(pit->stats, rec.stats)) {
    ++summary.resets;
    pit->delta_packets = rec.stats.packets;
    pit->delta_bytes = rec.stats.bytes;
  } else {
    pit->delta_packets = rec.stats.packets - pit->stats.packets;
    pit->delta_bytes = rec.stats.bytes - pit->stats.bytes;
  }
  PointStats& p = *pit;
  p.stats = rec.stats;
  p.present = true;
  p.packets += p.delta_packets;
  p.bytes += p.delta_bytes;
  if (p.delta_packets > 0 || p.delta_bytes > 0) p.last_active_ns = now_ns;
  if (seconds > 0) {
    p.pps = static_cast<double>(p.delta_packets) / seconds;
    p.bps = static_cast<double>(p.delta_bytes) * 8.0 / seconds;
  }
}

void Aggregator::settle(Flow& flow) {
  std::sort(flow.points.begin(), flow.points.end(),
            [](const PointStats& a, const PointStats& b) { return a.point < b.point; });
  flow.first_seen_ns = 0;
  flow.last_seen_ns = 0;
  flow.last_active_ns = 0;
  for (const auto& p : flow.points) {
    if (p.stats.first_seen_ns != 0 &&
        (flow.first_seen_ns == 0 || p.stats.first_seen_ns < flow.first_seen_ns)) {
      flow.first_seen_ns = p.stats.first_seen_ns;
    }
    flow.last_seen_ns = std::max(flow.last_seen_ns, p.stats.last_seen_ns);
    flow.last_active_ns = std::max(flow.last_active_ns, p.last_active_ns);
  }
}

void Aggregator::expire_idle(std::uint64_t now_ns, UpdateSummary& summary) {
  std::vector<PointKey> doomed;
  std::vector<model::FlowKey> expired;
  for (const auto& [key, flow] : flows_) {
    if (now_ns > flow.last_active_ns && now_ns - flow.last_active_ns > options_.idle_timeout_ns) {
      expired.push_back(key);
      for (const auto& p : flow.points) doomed.push_back({p.point, key});
    }
  }
  if (expired.empty()) return;
  if (auto removed = source_.remove(doomed); removed) {
    for (const auto& key : expired) flows_.erase(key);
    summary.expired = expired.size();
  } else {
    // Keep them: forgetting flows whose entries survive would count them again later.
    spdlog::warn("cannot remove {} idle flow entries: {}", doomed.size(), removed.error().to_string());
  }
}

std::vector<Conversation> Aggregator::conversations() const {
  std::vector<Conversation> out;
  std::set<model::FlowKey> paired;
  for (const auto& [key, flow] : flows_) {
    if (paired.count(key) != 0) continue;
    Conversation c{&flow, nullptr};
    const model::FlowKey rkey = key.reversed();
    if (!(rkey == key)) {
      if (const auto rit = flows_.find(rkey); rit != flows_.end()) {
        paired.insert(rkey);
        c.reverse = &rit->second;
        if (!initiated_first(flow, rit->second)) std::swap(c.forward, c.reverse);
      }
    }
    out.push_back(c);
  }
  std::stable_sort(out.begin(), out.end(), [](const Conversation& a, const Conversation& b) {
    if (a.bps() != b.bps()) return a.bps() > b.bps();
    return a.packets() > b.packets();
  });
  return out;
}

}  // namespace podpath::flows

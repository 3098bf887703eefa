#include "check/correlate.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <map>
#include <tuple>

namespace podpath::check {
namespace {

std::optional<std::uint64_t> median(std::vector<std::uint64_t> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

ProbeKeys probe_keys(const std::vector<ProbeOutcome>& probes) {
  ProbeKeys keys;
  for (const auto& p : probes) {
    keys.request.push_back(p.key);
    keys.reply.push_back(p.key.reversed());
  }
  return keys;
}

std::vector<model::FlowRecord> store_records(const flows::FlowStore& flows) {
  std::vector<model::FlowRecord> out;
  for (const auto& flow : flows) {
    for (const auto& ps : flow.points) {
      model::FlowRecord r;
      r.point = ps.point;
      r.key = flow.key;
      r.stats = ps.stats;
      r.stats.packets = ps.packets;
      r.stats.bytes = ps.bytes;
      out.push_back(r);
    }
  }
  return out;
}

PathReport correlate_path(const std::vector<model::FlowKey>& keys,
                          const std::vector<model::FlowRecord>& records, const flows::Endpoint& from,
                          const flows::Endpoint& to, const flows::Topology& topology, const NatJoin* nat) {
  std::map<model::FlowKey, std::size_t> probe_of;
  for (std::size_t i = 0; i < keys.size(); ++i) probe_of.emplace(keys[i], i);
  // After the translation: the same probe under another key, at points marked as such.
  std::map<model::FlowKey, std::size_t> translated_of;
  if (nat != nullptr) {
    for (std::size_t i = 0; i < nat->translated.size() && i < keys.size(); ++i)
      translated_of.emplace(nat->translated[i], i);
  }

  // Per point: the sum over the probes, and each probe's first time there.
  std::map<model::ObservationPoint, flows::PointStats> points;
  std::map<model::ObservationPoint, std::map<std::size_t, std::uint64_t>> first_seen;
  for (const auto& r : records) {
    std::size_t probe = 0;
    bool before = false;
    if (const auto it = probe_of.find(r.key); it != probe_of.end()) {
      probe = it->second;
      before = true;
    } else if (const auto t = translated_of.find(r.key); t != translated_of.end()) {
      probe = t->second;
    } else {
      continue;
    }
    if (r.stats.packets == 0) continue;
    auto& ps = points[r.point];
    ps.point = r.point;
    ps.before_nat = ps.before_nat || (before && nat != nullptr);
    ps.stats.packets += r.stats.packets;
    ps.stats.bytes += r.stats.bytes;
    ps.stats.tcp_flags |= r.stats.tcp_flags;
    if (ps.stats.first_seen_ns == 0 || r.stats.first_seen_ns < ps.stats.first_seen_ns)
      ps.stats.first_seen_ns = r.stats.first_seen_ns;
    ps.stats.last_seen_ns = std::max(ps.stats.last_seen_ns, r.stats.last_seen_ns);
    ps.packets = ps.stats.packets;
    ps.bytes = ps.stats.bytes;
    // A point that saw a probe under both keys keeps its first time there.
    const auto [seen, fresh] = first_seen[r.point].emplace(probe, r.stats.first_seen_ns);
    if (!fresh) seen->second = std::min(seen->second, r.stats.first_seen_ns);
  }
  flows::Flow flow;
  if (!keys.empty()) flow.key = keys.front();
  for (auto& [point, ps] : points) flow.points.push_back(ps);

  flows::Path path = flows::compose_path(flow, from, to, topology);
  if (nat != nullptr && !nat->translated.empty()) {
    flow.set_nat(nat->nat, nat->translated.front());
    flows::annotate_nat(path, flow, nat->why);
  }
  PathReport out;
  out.composer_verdict = path.verdict;
  out.complete = path.complete;
  const std::map<std::size_t, std::uint64_t>* previous = nullptr;
  for (const auto& hop : path.hops) {
    HopReport h;
    h.hop = hop;
    h.total = static_cast<int>(keys.size());
    if (hop.stats) {
      const auto& times = first_seen[hop.stats->point];
      h.seen = static_cast<int>(times.size());
      h.packets = hop.stats->packets;
      h.tcp_flags = hop.stats->stats.tcp_flags;
      if (hop.state == flows::HopState::Observed) {
        if (previous != nullptr) {
          std::vector<std::uint64_t> deltas;
          for (const auto& [probe, t] : times) {
            const auto p = previous->find(probe);
            if (p != previous->end() && t >= p->second) deltas.push_back(t - p->second);
          }
          h.latency_ns = median(std::move(deltas));
        }
        previous = &times;
      }
    }
    out.hops.push_back(std::move(h));
  }
  return out;
}

bool benign_drop(const bpf::DropEvent& event, const std::string& function, const Place& where,
                 const std::string& destination) {
  const bool icmp = event.key.proto == IPPROTO_ICMP || event.key.proto == IPPROTO_ICMPV6;
  // A connection's last packets meeting its TIME_WAIT (or already closed) socket: not a
  // network drop. Handshake packets (SYN) are never excused.
  if (event.key.proto == IPPROTO_TCP && (event.tcp_flags & TH_SYN) == 0 &&
      (function == "tcp_v4_rcv" || function == "tcp_v6_rcv") &&
      (!event.has_reason || event.reason_name == "NOT_SPECIFIED")) {
    return true;
  }
  // The same at a socket being closed (a probe's, right after its handshake): what it had not
  // read yet (the peer's FIN) is freed with it.
  if (event.key.proto == IPPROTO_TCP && (event.tcp_flags & TH_SYN) == 0 && event.has_reason &&
      event.reason_name == "QUEUE_PURGE") {
    return true;
  }
  if (event.has_reason) {
    if (event.reason_name == "OTHERHOST") return where.name != destination;
    return event.reason_name == "SOCKET_FILTER" || (icmp && event.reason_name == "NO_SOCKET");
  }
  return icmp && (function == "raw_rcv" || function == "ping_rcv" || function == "icmp_rcv");
}

std::vector<DropFinding> correlate_drops(const std::vector<bpf::DropEvent>& events,
                                         const std::vector<model::FlowKey>& request_keys,
                                         const std::vector<model::FlowKey>& reply_keys, const Placer& place,
                                         const Symbolizer& symbolize, const DropFilter& filter) {
  std::vector<DropFinding> out;
  std::map<std::tuple<std::string, std::string, std::string, std::string, bool>, std::size_t> index;
  std::vector<const bpf::DropEvent*> sorted;
  for (const auto& e : events) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const bpf::DropEvent* a, const bpf::DropEvent* b) { return a->ts_ns < b->ts_ns; });
  for (const auto* e : sorted) {
    const bool request = std::find(request_keys.begin(), request_keys.end(), e->key) != request_keys.end();
    const bool reply =
        !request && std::find(reply_keys.begin(), reply_keys.end(), e->key) != reply_keys.end();
    if (!request && !reply) continue;
    const Place p = place(e->netns_cookie);
    if (filter.cluster_only && p.kind == PlaceKind::Unknown) continue;
    const std::string location = symbolize(e->location);
    const std::string function = location.substr(0, location.find('+'));
    if (benign_drop(*e, function, p, reply ? filter.reply_destination : filter.request_destination)) continue;
    const auto key = std::make_tuple(p.name, e->ifname, e->reason_name, function, reply);
    auto it = index.find(key);
    if (it == index.end()) {
      DropFinding f;
      f.place = p;
      f.ifname = e->ifname;
      f.reason = e->reason_name;
      f.location = location;
      f.reply = reply;
      f.first_ns = e->ts_ns;
      f.key = e->key;
      it = index.emplace(key, out.size()).first;
      out.push_back(std::move(f));
    }
    DropFinding& f = out[it->second];
    ++f.count;
    f.ip_len = std::max(f.ip_len, e->ip_len);
    f.df = f.df || e->df;
    f.ttl = std::min(f.ttl, e->ttl);
    if (e->key.proto == IPPROTO_ICMP || e->key.proto == IPPROTO_TCP) f.seqs.push_back(e->seq);
  }
  return out;
}

}  // namespace podpath::check

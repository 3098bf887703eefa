#include "check/checker.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "check/correlate.hpp"
#include "check/diagnose.hpp"
#include "check/facts.hpp"
#include "check/passive.hpp"
#include "inventory/cidrs.hpp"
#include "inventory/resolver.hpp"
#include "inventory/source.hpp"
#include "net/netns.hpp"

namespace podpath::check {
namespace {

/// Events kept for one check or one passive window; more are counted, not stored.
constexpr std::size_t kMaxEvents = 100'000;
/// After the last probe: time for stragglers (late replies, drop records) to arrive.
constexpr std::chrono::milliseconds kGrace{300};
/// Passive mode: the longest wait between two looks at drop records and the stop flag, and
/// the last wait, for packets still on their way when the window closes.
constexpr std::chrono::milliseconds kWatchStep{200};
constexpr std::chrono::milliseconds kWatchTail{100};

std::uint64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since)
          .count());
}

Protocol protocol_of(std::uint8_t proto) {
  if (proto == IPPROTO_TCP) return Protocol::Tcp;
  if (proto == IPPROTO_UDP) return Protocol::Udp;
  return Protocol::Icmp;
}

}  // namespace

Result<Target> resolve_target(const model::Cluster& cluster, const flows::EndpointResolver& resolver,
                              const std::string& text, bool source) {
  Target t;
  if (const auto ip = model::IpAddress::parse(text)) {
    t.endpoint = resolver.resolve(*ip);
  } else if (const model::Pod* pod = cluster.find_pod(text)) {
    t.endpoint = resolver.resolve(pod->ip);
  } else if (const model::Node* node = cluster.find_node(text)) {
    t.endpoint = resolver.resolve(node->underlay_ip);
  } else {
    return make_error(0, "no pod or node named '{}' (pods: {})", text, inventory::pod_list(cluster));
  }
  if (!source) return t;
  const auto& e = t.endpoint;
  if (e.kind == flows::EndpointKind::Pod && e.pod != nullptr) {
    if (e.pod->netns.empty()) {
      return make_error(
          0,
          "the network namespace of pod {} is unknown, so podpath cannot send probes from it (try "
          "--passive)",
          e.pod->full_name());
    }
    t.netns = e.pod->netns;
    return t;
  }
  if (e.kind == flows::EndpointKind::Node) {
    if (const model::Node* node = cluster.find_node(e.node)) {
      t.netns = node->netns;
      return t;
    }
  }
  return make_error(
      0,
      "the source must be a pod or a node of the cluster (probes are sent from inside its network "
      "namespace); {} is {}",
      text, e.kind == flows::EndpointKind::Pod ? "an address no known pod holds" : flows::to_string(e.kind));
}

Result<void> check_probe_addresses(const model::IpAddress& src, const model::IpAddress& dst) {
  const std::string d = dst.to_string();
  const auto refuse = [&](const char* what, const char* why) {
    return make_error(0, "cannot check {}: it is {}; {}", d, what, why);
  };
  if (src.is_v4() != dst.is_v4()) {
    return make_error(0,
                      "cannot check {} from {}: one is IPv{} and the other IPv{}; probes keep the family of "
                      "the source's address",
                      d, src.to_string(), dst.is_v4() ? 4 : 6, src.is_v4() ? 4 : 6);
  }
  if (src == dst) return make_error(0, "source and destination are the same address ({})", d);
  const auto& b = dst.bytes;
  constexpr std::uint32_t kLoopbackNet = 127, kMulticastNibble = 0xe;
  if (dst == model::IpAddress{} || (dst.is_v4() && dst.v4_host() == 0)) {
    return refuse("the unspecified address", "name the destination pod, node or its IP");
  }
  if (dst.is_v4() ? (dst.v4_host() >> 24) == kLoopbackNet : dst == *model::IpAddress::parse("::1")) {
    return refuse(
        "a loopback address",
        "a probe to it never leaves the source's own namespace; name the destination pod, node or its IP");
  }
  if (dst.is_v4() ? (dst.v4_host() >> 28) == kMulticastNibble : b[0] == 0xff) {
    return refuse("a multicast address", "podpath check follows a conversation between two endpoints");
  }
  if (dst.is_v4() && dst.v4_host() == 0xffffffffU) {
    return refuse("the broadcast address", "podpath check follows a conversation between two endpoints");
  }
  return {};
}

Result<std::optional<ServiceTarget>> resolve_endpoints(const loader::SessionOptions& options,
                                                       const std::vector<std::string>& endpoints,
                                                       bool first_is_source, const DestinationHints& hints) {
  auto loaded = inventory::load_cluster(options.source);
  if (!loaded) return loaded.error();
  auto cidrs = inventory::CidrTable::build(loaded->cluster, options.cidrs);
  if (!cidrs) return cidrs.error();
  const auto cluster = std::make_shared<const model::Cluster>(std::move(loaded->cluster));
  const inventory::Resolver resolver(cluster, *cidrs);
  std::optional<ServiceTarget> service;
  if (first_is_source && endpoints.size() == 2) {
    auto s = resolve_service(*cluster, endpoints[1], hints.port, hints.proto);
    if (!s) return s.error();
    service = std::move(*s);
  }
  std::vector<Target> targets;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    if (i == 1 && service) break;
    auto t = resolve_target(*cluster, resolver, endpoints[i], i == 0 && first_is_source);
    if (!t) return t.error();
    targets.push_back(std::move(*t));
  }
  if (service && !targets.empty()) {
    if (auto r = check_probe_addresses(targets[0].endpoint.ip, service->service.cluster_ip); !r)
      return r.error();
  }
  if (first_is_source && targets.size() == 2) {
    if (auto r = check_probe_addresses(targets[0].endpoint.ip, targets[1].endpoint.ip); !r) return r.error();
  }
  return service;
}

Result<std::unique_ptr<Checker>> Checker::start(loader::Session& session, const bpf::DropOptions& options) {
  std::unique_ptr<Checker> c(new Checker(session));
  c->index_places();
  auto tracker = bpf::DropTracker::start(options, [raw = c.get()](const bpf::DropEvent& e) {
    if (raw->events_.size() < kMaxEvents) raw->events_.push_back(e);
  });
  if (!tracker) {
    c->drops_mode_ = "drop tracking unavailable: " + tracker.error().to_string();
    spdlog::warn("{}; checking without kernel drop reasons", c->drops_mode_);
    return c;
  }
  c->tracker_ = std::move(*tracker);
  std::vector<model::Cidr> cidrs;
  for (const auto& e : session.cidrs().entries()) cidrs.push_back(e.cidr);
  if (auto r = c->tracker_->set_cidrs(cidrs); !r) return r.error();
  c->drops_mode_ = c->tracker_->describe();
  return c;
}

Checker::~Checker() = default;

void Checker::index_places() {
  const auto& cluster = session_.cluster();
  for (const auto& n : cluster.nodes) {
    std::uint64_t cookie = session_.loader().netns_cookie(n.name);
    if (cookie == 0) {
      if (auto c = net::netns_cookie(n.netns)) cookie = *c;
    }
    if (cookie != 0) places_[cookie] = {PlaceKind::Node, n.name, ""};
  }
  if (cluster.gateway && !cluster.gateway->netns.empty()) {
    if (auto c = net::netns_cookie(cluster.gateway->netns)) {
      places_[*c] = {PlaceKind::Gateway, cluster.gateway->name.empty() ? "gateway" : cluster.gateway->name,
                     ""};
    }
  }
  for (const auto& p : cluster.pods) {
    if (p.netns.empty()) continue;
    if (auto c = net::netns_cookie(p.netns)) places_[*c] = {PlaceKind::Pod, p.full_name(), p.node};
  }
}

Place Checker::place(std::uint64_t netns_cookie) const {
  const auto it = places_.find(netns_cookie);
  if (it != places_.end()) return it->second;
  return {PlaceKind::Unknown, fmt::format("netns {}", netns_cookie), ""};
}

Result<void> Checker::poll_drops(int timeout_ms) {
  if (!tracker_) return {};
  auto r = tracker_->poll(timeout_ms);
  if (!r) return r.error();
  return {};
}

std::string Checker::symbolize(std::uint64_t address) {
  if (!kallsyms_tried_) {
    kallsyms_tried_ = true;
    if (auto k = Kallsyms::load()) {
      kallsyms_ = std::move(*k);
      if (kallsyms_->addresses_hidden())
        spdlog::warn("/proc/kallsyms hides addresses: drop locations stay numeric");
    } else {
      spdlog::warn("{}: drop locations stay numeric", k.error().to_string());
    }
  }
  return kallsyms_ ? kallsyms_->symbolize(address) : fmt::format("{:#x}", address);
}

std::string Checker::place_name_of(const flows::Endpoint& e) {
  if (e.kind == flows::EndpointKind::Pod && e.pod != nullptr) return e.pod->full_name();
  if (e.kind == flows::EndpointKind::Node) return e.node;
  return e.name;
}

std::vector<DropFinding> Checker::findings(const std::vector<model::FlowKey>& request,
                                           const std::vector<model::FlowKey>& reply,
                                           const flows::Endpoint& src, const flows::Endpoint& dst) {
  DropFilter filter;
  filter.cluster_only = !session_.cluster().lab.empty();
  filter.request_destination = place_name_of(dst);
  filter.reply_destination = place_name_of(src);
  return correlate_drops(
      events_, request, reply, [this](std::uint64_t c) { return place(c); },
      [this](std::uint64_t a) { return symbolize(a); }, filter);
}

CheckReport Checker::report_for(Evidence evidence) const {
  CheckReport r;
  r.verdict = diagnose(evidence);
  r.evidence = std::move(evidence);
  r.cluster = session_.cluster_description();
  r.attach = session_.loader().describe();
  r.drops = drops_mode_;
  return r;
}

std::optional<MtuProbe> Checker::probe_mtu(const CheckRequest& request, const Target& src,
                                           const Target& dst) {
  ProbeSpec spec;
  spec.netns = src.netns;
  spec.src = src.endpoint.ip;
  spec.dst = dst.endpoint.ip;
  spec.proto = request.proto;
  spec.port = request.port;
  spec.timeout = request.timeout;
  spec.size = request.size;
  auto sent = send_mtu_probes(spec);
  if (!sent) {
    spdlog::warn("large-packet probe: {}", sent.error().to_string());
    return std::nullopt;
  }
  if (!*sent) return std::nullopt;
  (void)session_.wait(kGrace, std::atomic<bool>(false));
  (void)poll_drops(0);
  MtuProbe m = mtu_probe_of((*sent)->size, (*sent)->probes);
  const ProbeKeys keys = probe_keys((*sent)->probes);
  if (auto records = flow_records()) {
    m.path = correlate_path(keys.request, *records, src.endpoint, dst.endpoint, session_.topology());
  }
  m.drops = findings(keys.request, keys.reply, src.endpoint, dst.endpoint);
  return m;
}

Result<CheckReport> Checker::run(const CheckRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  if (auto r = session_.refresh(); !r) return r.error();
  // The whole check judges one snapshot: the refreshes below may reload the inventory (the
  // lab rewrites it when pods come and go), and the endpoints keep pointing into this one.
  const model::ClusterSnapshot snapshot = session_.snapshot();
  const model::Cluster& cluster = *snapshot;
  auto src = resolve_target(cluster, session_.resolver(), request.src, true);
  if (!src) return src.error();
  auto dst = resolve_target(cluster, session_.resolver(), request.dst, false);
  if (!dst) return dst.error();
  if (auto r = check_probe_addresses(src->endpoint.ip, dst->endpoint.ip); !r) return r.error();

  ProbeSpec spec;
  spec.netns = src->netns;
  spec.src = src->endpoint.ip;
  spec.dst = dst->endpoint.ip;
  spec.proto = request.proto;
  spec.port = request.port;
  spec.count = request.count;
  spec.interval = request.interval;
  spec.timeout = request.timeout;
  spec.size = request.size;
  auto probes = probe_and_settle(spec, src->endpoint.name);
  if (!probes) return probes.error();
  auto records = flow_records();  // also the routes as they are now
  if (!records) return records.error();
  Evidence ev = probe_evidence(request.proto, request.port, std::move(*probes), src->endpoint, dst->endpoint,
                               {}, *records, cluster);
  if (request.mtu_probe && ev.outcome.answered > 0) ev.mtu = probe_mtu(request, *src, *dst);
  CheckReport report = report_for(std::move(ev));
  report.duration_ms = elapsed_ms(started);
  return report;
}

Result<std::vector<ProbeOutcome>> Checker::probe_and_settle(const ProbeSpec& spec, const std::string& from) {
  if (auto r = poll_drops(0); !r) return r.error();
  events_.clear();
  auto probes = send_probes(spec);
  if (!probes) return wrap_error(probes.error(), "cannot send probes from {}", from);
  if (auto r = session_.wait(kGrace, std::atomic<bool>(false)); !r) return r.error();
  if (auto r = poll_drops(0); !r) return r.error();
  return probes;
}

Result<std::vector<model::FlowRecord>> Checker::flow_records() {
  if (auto r = session_.refresh(); !r) return r.error();
  return store_records(session_.aggregator().flows());
}

Result<FlowSelection> Checker::selection(const PassiveRequest& request) const {
  FlowSelection out;
  for (auto [text, end] : {std::pair{&request.src, &out.a}, std::pair{&request.dst, &out.b}}) {
    if (text->empty()) continue;
    auto t = resolve_target(session_.cluster(), session_.resolver(), *text, false);
    if (!t) return t.error();
    *end = t->endpoint.ip;
  }
  return out;
}

Result<void> Checker::watch_until(std::chrono::steady_clock::time_point until,
                                  const std::atomic<bool>& stop) {
  if (auto r = poll_drops(0); !r) return r.error();
  events_.clear();
  while (!stop.load() && std::chrono::steady_clock::now() < until) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (auto r = session_.wait(std::min(left, kWatchStep), stop); !r) return r.error();
    if (auto r = poll_drops(0); !r) return r.error();
  }
  (void)session_.wait(kWatchTail, stop);
  return poll_drops(0);
}

std::set<model::FlowKey> Checker::dropped_flows(const FlowSelection& selection, std::uint64_t& drops_seen) {
  const auto& cluster = session_.cluster();
  std::set<model::FlowKey> dropped;
  for (const auto& e : events_) {
    const Place p = place(e.netns_cookie);
    if (!cluster.lab.empty() && p.kind == PlaceKind::Unknown) continue;
    if (!selection.selects(e.key, cluster)) continue;
    const std::string location = symbolize(e.location);
    const auto dst_of = place_name_of(session_.resolver().resolve(e.key.dst));
    if (benign_drop(e, location.substr(0, location.find('+')), p, dst_of)) continue;
    ++drops_seen;
    dropped.insert(e.key);
  }
  return dropped;
}

CheckReport Checker::judge_observed(const model::FlowKey& fwd, const flows::Flow* forward,
                                    const flows::Flow* reverse,
                                    const std::vector<model::FlowRecord>& records) {
  Evidence ev;
  ev.passive = true;
  ev.proto = protocol_of(fwd.proto);
  ev.port = fwd.proto == IPPROTO_ICMP ? 0 : fwd.dport;
  ev.src = session_.resolver().resolve(fwd.src);
  ev.dst = session_.resolver().resolve(fwd.dst);
  ev.drops_tracked = tracker_ != nullptr;
  ev.drop_reasons = tracker_ != nullptr && tracker_->reasons();
  const model::FlowKey rev = fwd.reversed();
  ev.request = correlate_path({fwd}, records, ev.src, ev.dst, session_.topology());
  ev.reply = correlate_path({rev}, records, ev.dst, ev.src, session_.topology());
  ev.drops = findings({fwd}, {rev}, ev.src, ev.dst);
  ev.outcome = observed_outcome(fwd, forward, reverse);
  gather_facts(ev, session_.cluster(), session_.topology());
  return report_for(std::move(ev));
}

Result<PassiveReport> Checker::observe(const PassiveRequest& request, const std::atomic<bool>& stop) {
  const auto started = std::chrono::steady_clock::now();
  if (auto r = session_.refresh(); !r) return r.error();
  const auto selected = selection(request);
  if (!selected) return selected.error();
  if (auto r = watch_until(started + request.duration, stop); !r) return r.error();
  const auto records = flow_records();
  if (!records) return records.error();

  PassiveReport out;
  out.cluster = session_.cluster_description();
  out.attach = session_.loader().describe();
  out.drops = drops_mode_;
  // Drops of the selected flows, by flow (both directions of a flow under its forward key).
  const std::set<model::FlowKey> dropped = dropped_flows(*selected, out.drops_seen);
  std::set<model::FlowKey> judged;
  for (const auto& conv : session_.aggregator().conversations()) {
    const flows::Flow* fwd = conv.forward;
    const flows::Flow* rev = conv.reverse;
    if (fwd == nullptr || !selected->selects(fwd->key, session_.cluster())) continue;
    ++out.conversations;
    if (!has_problem(*fwd, rev, dropped)) continue;
    judged.insert(fwd->key);
    if (rev != nullptr) judged.insert(rev->key);
    out.problems.push_back(judge_observed(fwd->key, fwd, rev, *records));
  }
  // Drops of flows the datapath never counted (e.g. dropped before the first hop).
  for (const auto& k : dropped) {
    if (judged.count(k) != 0 || judged.count(k.reversed()) != 0) continue;
    judged.insert(k);
    out.problems.push_back(judge_observed(k, nullptr, nullptr, *records));
  }
  out.duration_ms = elapsed_ms(started);
  return out;
}

}  // namespace podpath::check

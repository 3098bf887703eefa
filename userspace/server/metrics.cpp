#include "server/metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <set>

namespace podpath::server {
namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;

const char* direction_name(model::Direction d) {
  return d == model::Direction::Egress ? "egress" : "ingress";
}

// The label set of one observation point: role, pod (pod veths only), direction.
using PointLabels = std::tuple<std::string, std::string, std::string>;

prometheus::Labels point_labels(const PointLabels& l) {
  prometheus::Labels labels{{"role", std::get<0>(l)}, {"direction", std::get<2>(l)}};
  if (!std::get<1>(l).empty()) labels["pod"] = std::get<1>(l);
  return labels;
}

// A kernel counter is cumulative; Prometheus counters only grow by increments.
double grown(std::uint64_t now, std::uint64_t before) {
  return static_cast<double>(now >= before ? now - before : now);  // went back: the map was recreated
}

}  // namespace

struct AgentMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::map<std::string, std::string> node;

  Family<Counter>* packets = nullptr;
  Family<Counter>* bytes = nullptr;
  Family<Counter>* pair_packets = nullptr;
  Family<Counter>* pair_bytes = nullptr;
  Family<Counter>* drops = nullptr;
  Family<Counter>* parse_errors = nullptr;
  Family<Counter>* insert_failures = nullptr;
  Family<Counter>* reloads = nullptr;
  Counter* events_lost = nullptr;
  Counter* map_full = nullptr;
  Counter* change_log_full = nullptr;
  Counter* drop_events_lost = nullptr;
  Counter* streams_dropped = nullptr;
  Counter* streams_refused = nullptr;
  Counter* refreshes = nullptr;
  Gauge* flows_tracked = nullptr;
  Gauge* streams = nullptr;
  Gauge* refresh_seconds = nullptr;

  std::map<bpf::FlowCounter, Counter*> health;  // parse errors by kind, insert failures by reason
  std::map<PointLabels, std::pair<Counter*, Counter*>> points;
  std::map<std::pair<std::uint16_t, std::uint16_t>, std::pair<std::uint64_t, std::uint64_t>> matrix;
  bpf::FlowCounters counters{};
  bpf::DropCounters drop_counters{};
  StreamStats stream_stats;

  Family<Counter>& counter(const std::string& name, const std::string& help) {
    return prometheus::BuildCounter().Name(name).Help(help).Labels(node).Register(*registry);
  }
  Family<Gauge>& gauge(const std::string& name, const std::string& help) {
    return prometheus::BuildGauge().Name(name).Help(help).Labels(node).Register(*registry);
  }

  void update_points(const MetricsInputs& in);
  void update_matrix(const MetricsInputs& in);
  void update_health(const MetricsInputs& in);
};

AgentMetrics::AgentMetrics(const std::string& node, const std::string& version)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.node = {{"node", node}};
  m.packets =
      &m.counter("podpath_packets_total",
                 "Packets counted at the node's observation points: role of the interface, pod (its own "
                 "veth only), direction");
  m.bytes =
      &m.counter("podpath_bytes_total", "Bytes counted at the node's observation points (labels as packets)");
  m.pair_packets = &m.counter("podpath_cidr_pair_packets_total",
                              "Packets by source and destination CIDR, counted once per cluster: where they "
                              "leave their pod for pod CIDRs, where they enter the node for other sources");
  m.pair_bytes = &m.counter("podpath_cidr_pair_bytes_total", "Bytes by source and destination CIDR");
  m.drops = &m.counter(
      "podpath_drops_total",
      "Packets of the cluster's CIDRs the kernel dropped on this node, by drop reason and the role "
      "of the place");
  m.parse_errors = &m.counter("podpath_parse_errors_total", "Packets the datapath could not parse, by kind");
  m.insert_failures =
      &m.counter("podpath_flow_map_insert_failures_total",
                 "Flow entries the kernel could not create for another reason than a full map");
  m.reloads =
      &m.counter("podpath_agent_reloads_total", "SIGHUP reloads of certificates and token, by result");
  m.events_lost =
      &m.counter("podpath_events_lost_total", "New-flow events lost: the ring buffer was full").Add({});
  m.map_full =
      &m.counter("podpath_flow_map_full_total", "Flow entries not created: the flows map was full").Add({});
  m.change_log_full = &m.counter("podpath_change_log_full_total",
                                 "Changed flow entries not logged: the change log was full (those refreshes "
                                 "walked the flows maps instead; nothing is lost, refreshes cost more)")
                           .Add({});
  m.drop_events_lost =
      &m.counter("podpath_drop_events_lost_total", "Drop records lost: the drop ring buffer was full")
           .Add({});
  m.streams_dropped =
      &m.counter("podpath_agent_streams_dropped_total", "Stream clients dropped for reading too slowly")
           .Add({});
  m.streams_refused = &m.counter("podpath_agent_streams_refused_total",
                                 "Stream requests refused (503): the bound on concurrent streams was reached")
                           .Add({});
  m.refreshes = &m.counter("podpath_agent_refreshes_total", "Refreshes of the flow table").Add({});
  m.flows_tracked = &m.gauge("podpath_flows_tracked", "Flow directions in the agent's flow table").Add({});
  m.streams = &m.gauge("podpath_agent_streams", "Open stream clients (GET /v1/flows/stream)").Add({});
  m.refresh_seconds =
      &m.gauge("podpath_agent_refresh_duration_seconds", "Duration of the last refresh").Add({});
  m.gauge("podpath_build_info", "Always 1: the agent's version").Add({{"version", version}}).Set(1);
  // Every kind from the start at 0, so that rate() sees the first error.
  using bpf::FlowCounter;
  for (auto c = static_cast<int>(FlowCounter::EthTruncated); c <= static_cast<int>(FlowCounter::TcpBadOffset);
       ++c) {
    const auto counter = static_cast<FlowCounter>(c);
    std::string kind = bpf::counter_name(counter);
    if (kind.rfind("parse_", 0) == 0) kind.erase(0, 6);
    m.health[counter] = &m.parse_errors->Add({{"kind", kind}});
  }
  m.health[FlowCounter::FlowInsertBusy] = &m.insert_failures->Add({{"reason", "busy"}});
  m.health[FlowCounter::FlowInsertOther] = &m.insert_failures->Add({{"reason", "other"}});
  m.health[FlowCounter::FlowInsertRace] = &m.insert_failures->Add({{"reason", "race"}});
  m.reloads->Add({{"result", "ok"}});
  m.reloads->Add({{"result", "failed"}});
}

AgentMetrics::~AgentMetrics() = default;

void AgentMetrics::Impl::update_points(const MetricsInputs& in) {
  std::map<std::pair<std::uint64_t, std::uint32_t>, const loader::AttachedInterface*> by_point;
  std::set<std::string> live_pods;
  for (const auto& i : in.interfaces) {
    by_point[{i.netns_cookie, i.ifindex}] = &i;
    if (i.role == model::InterfaceRole::PodVeth) live_pods.insert(i.pod.empty() ? "unknown" : i.pod);
  }
  for (const auto& flow : in.flows) {
    for (const auto& p : flow.points) {
      if (p.delta_packets == 0 && p.delta_bytes == 0) continue;
      auto it = by_point.find({p.point.netns_cookie, p.point.ifindex});
      if (it == by_point.end()) continue;  // the interface went in this very interval
      const loader::AttachedInterface& i = *it->second;
      std::string pod;
      if (i.role == model::InterfaceRole::PodVeth) pod = i.pod.empty() ? "unknown" : i.pod;
      const PointLabels labels{model::to_string(i.role), pod, direction_name(p.point.direction)};
      auto found = points.find(labels);
      if (found == points.end()) {
        const auto l = point_labels(labels);
        found = points.emplace(labels, std::make_pair(&packets->Add(l), &bytes->Add(l))).first;
      }
      found->second.first->Increment(static_cast<double>(p.delta_packets));
      found->second.second->Increment(static_cast<double>(p.delta_bytes));
    }
  }
  // A pod's series go with its veth (cilium#23162 is what happens otherwise).
  for (auto it = points.begin(); it != points.end();) {
    const std::string& pod = std::get<1>(it->first);
    if (pod.empty() || live_pods.count(pod) != 0) {
      ++it;
      continue;
    }
    packets->Remove(it->second.first);
    bytes->Remove(it->second.second);
    it = points.erase(it);
  }
}

void AgentMetrics::Impl::update_matrix(const MetricsInputs& in) {
  const auto cidr_label = [&](std::uint16_t id) {
    const inventory::CidrEntry* e = in.cidrs.by_id(id);
    return e != nullptr ? e->cidr.to_string() : std::string("other");
  };
  for (const auto& cell : in.matrix) {
    auto& before = matrix[{cell.src_cidr, cell.dst_cidr}];
    const double dp = grown(cell.packets, before.first);
    const double db = grown(cell.bytes, before.second);
    before = {cell.packets, cell.bytes};
    if (dp == 0 && db == 0) continue;
    const prometheus::Labels labels{{"src_cidr", cidr_label(cell.src_cidr)},
                                    {"dst_cidr", cidr_label(cell.dst_cidr)}};
    pair_packets->Add(labels).Increment(dp);
    pair_bytes->Add(labels).Increment(db);
  }
}

void AgentMetrics::Impl::update_health(const MetricsInputs& in) {
  using bpf::FlowCounter;
  const auto delta = [&](FlowCounter c) { return grown(in.counters[c], counters[c]); };
  events_lost->Increment(delta(FlowCounter::EventsLost));
  map_full->Increment(delta(FlowCounter::FlowInsertFull));
  change_log_full->Increment(delta(FlowCounter::ChangeLogFull));
  for (const auto& [c, series] : health) series->Increment(delta(c));
  counters = in.counters;
  if (in.drop_counters != nullptr) {
    drop_events_lost->Increment(grown((*in.drop_counters)[bpf::DropCounter::EventsLost],
                                      drop_counters[bpf::DropCounter::EventsLost]));
    drop_counters = *in.drop_counters;
  }
  flows_tracked->Set(static_cast<double>(in.flows.size()));
  streams->Set(static_cast<double>(in.streams.active));
  streams_dropped->Increment(static_cast<double>(in.streams.dropped - stream_stats.dropped));
  streams_refused->Increment(static_cast<double>(in.streams.refused - stream_stats.refused));
  stream_stats = in.streams;
  refreshes->Increment();
  refresh_seconds->Set(in.refresh_seconds);
}

void AgentMetrics::update(const MetricsInputs& in) {
  impl_->update_points(in);
  impl_->update_matrix(in);
  impl_->update_health(in);
}

void AgentMetrics::count_drop(const std::string& reason, const std::string& role) {
  impl_->drops->Add({{"reason", reason}, {"role", role}}).Increment();
}

void AgentMetrics::count_reload(bool ok) {
  impl_->reloads->Add({{"result", ok ? "ok" : "failed"}}).Increment();
}

std::string AgentMetrics::render() const {
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace podpath::server

// `podpath check POD SERVICE`: connections through kube-proxy's DNAT, grouped by the backend
// each one got (the datapath's NAT records), every backend judged on its own connections.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "check/checker.hpp"
#include "check/correlate.hpp"
#include "check/diagnose.hpp"
#include "check/facts.hpp"

namespace podpath::check {
namespace {

/// The connections to one backend, in the order they were made.
struct Group {
  model::IpAddress ip;
  std::uint16_t port = 0;
  std::vector<ProbeOutcome> probes;
  std::vector<model::NatRecord> nat;  // parallel to probes
};

}  // namespace

Evidence Checker::probe_evidence(Protocol proto, std::uint16_t port, std::vector<ProbeOutcome> probes,
                                 const flows::Endpoint& src, const flows::Endpoint& dst,
                                 const std::vector<model::NatRecord>& nat,
                                 const std::vector<model::FlowRecord>& records,
                                 const model::Cluster& cluster) {
  Evidence ev;
  ev.proto = proto;
  ev.port = port;
  ev.src = src;
  ev.dst = dst;
  ev.probes = std::move(probes);
  ev.outcome = summarize(ev.probes);
  ev.drops_tracked = tracker_ != nullptr;
  ev.drop_reasons = tracker_ != nullptr && tracker_->reasons();
  ProbeKeys keys = probe_keys(ev.probes);
  if (nat.empty() || nat.size() != ev.probes.size()) {
    ev.request = correlate_path(keys.request, records, ev.src, ev.dst, session_.topology());
    ev.reply = correlate_path(keys.reply, records, ev.dst, ev.src, session_.topology());
    ev.drops = findings(keys.request, keys.reply, ev.src, ev.dst);
  } else {
    // The request is the client's key before the DNAT and the backend's after it; the reply
    // the backend's before the reverse DNAT and the ClusterIP's after it.
    const flows::NatExplanation why = session_.resolver().explain_nat(nat.front());
    NatJoin request{{}, nat.front(), why};
    NatJoin reply{{}, nat.front(), why};
    std::vector<model::FlowKey> reply_before;
    for (const auto& n : nat) {
      request.translated.push_back(n.translated());
      reply_before.push_back(n.reply);
      reply.translated.push_back(n.original.reversed());
    }
    ev.request = correlate_path(keys.request, records, ev.src, ev.dst, session_.topology(), &request);
    ev.reply = correlate_path(reply_before, records, ev.dst, ev.src, session_.topology(), &reply);
    keys.request.insert(keys.request.end(), request.translated.begin(), request.translated.end());
    keys.reply.insert(keys.reply.end(), reply_before.begin(), reply_before.end());
    ev.drops = findings(keys.request, keys.reply, ev.src, ev.dst);
  }
  gather_facts(ev, cluster, session_.topology());
  return ev;
}

Result<ServiceReport> Checker::run_service(const ServiceCheckRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  if (auto r = session_.refresh(); !r) return r.error();
  const model::ClusterSnapshot snapshot = session_.snapshot();
  const model::Cluster& cluster = *snapshot;
  auto src = resolve_target(cluster, session_.resolver(), request.src, true);
  if (!src) return src.error();
  // The Service as the inventory has it now (its endpoints may have changed since it was named).
  const model::Service& asked = request.target.service;
  const model::Service* svc = cluster.find_service(asked.cluster_ip, asked.port);
  if (svc == nullptr) return make_error(0, "service {} is gone from the inventory", asked.full_name());
  const flows::Endpoint vip = session_.resolver().resolve(svc->cluster_ip);
  if (auto r = check_probe_addresses(src->endpoint.ip, vip.ip); !r) return r.error();

  ProbeSpec spec;
  spec.netns = src->netns;
  spec.src = src->endpoint.ip;
  spec.dst = svc->cluster_ip;
  spec.proto = request.target.proto;
  spec.port = svc->port;
  spec.count = request.connections;
  spec.interval = request.interval;
  spec.timeout = request.timeout;
  auto probes = probe_and_settle(spec, src->endpoint.name);
  if (!probes) return probes.error();
  auto records = flow_records();  // also the NAT records and the routes as they are now
  if (!records) return records.error();

  // Each connection's backend: the translation recorded for its exact tuple.
  std::map<model::FlowKey, const model::NatRecord*> by_original;
  for (const auto& n : session_.aggregator().nat()) {
    if (n.dnat) by_original.emplace(n.original, &n);
  }
  std::vector<Group> groups;
  std::vector<ProbeOutcome> untranslated;
  for (auto& p : *probes) {
    const auto it = by_original.find(p.key);
    if (it == by_original.end()) {
      untranslated.push_back(std::move(p));
      continue;
    }
    const model::FlowKey to = it->second->translated();
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const Group& x) { return x.ip == to.dst && x.port == to.dport; });
    if (g == groups.end()) g = groups.insert(groups.end(), Group{to.dst, to.dport, {}, {}});
    g->probes.push_back(std::move(p));
    g->nat.push_back(*it->second);
  }

  ServiceEvidence sev;
  sev.service = *svc;
  sev.proto = request.target.proto;
  sev.client = src->endpoint;
  for (auto& g : groups) {
    BackendReport b;
    if (const model::ServiceBackend* known = svc->backend(g.ip)) {
      b.backend = *known;
    } else {
      b.backend.ip = g.ip;
    }
    b.port = g.port;
    b.evidence = probe_evidence(spec.proto, g.port, std::move(g.probes), src->endpoint,
                                session_.resolver().resolve(g.ip), g.nat, *records, cluster);
    b.verdict = diagnose(b.evidence);
    sev.backends.push_back(std::move(b));
  }
  if (!untranslated.empty()) {
    UntranslatedReport u;
    u.evidence = probe_evidence(spec.proto, svc->port, std::move(untranslated), src->endpoint, vip, {},
                                *records, cluster);
    u.verdict = diagnose(u.evidence);
    if (u.evidence.outcome.icmp) {
      if (const flows::PathNode* n = session_.topology().node_with_address(u.evidence.outcome.icmp->from))
        u.reject_node = n->name;
    }
    sev.untranslated = std::move(u);
  }
  ServiceReport report;
  report.verdict = judge_service(sev);
  report.evidence = std::move(sev);
  report.cluster = session_.cluster_description();
  report.attach = session_.loader().describe();
  report.drops = drops_mode_;
  report.duration_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count());
  return report;
}

}  // namespace podpath::check

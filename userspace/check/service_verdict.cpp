#include "check/service_verdict.hpp"

#include <fmt/format.h>

namespace podpath::check {
namespace {

std::string last_seen_hop(const PathReport& path) {
  const auto last = path.last_seen();
  return last ? path.hops[*last].describe() : std::string();
}

ServiceVerdict make(ServiceVerdictKind kind, std::string summary, std::string hop = {}) {
  ServiceVerdict v;
  v.kind = kind;
  v.reachable = kind == ServiceVerdictKind::Reachable;
  v.summary = std::move(summary);
  v.hop = std::move(hop);
  return v;
}

/// "3/3 connections answered", "0/3 answered: 3 timed out (last seen at node1 eth0 egress)".
std::string share_text(const Evidence& ev) {
  const OutcomeSummary& o = ev.outcome;
  std::string s = fmt::format("{}/{} connection{} answered", o.answered, o.sent, o.sent == 1 ? "" : "s");
  std::vector<std::string> parts;
  if (o.refused > 0) parts.push_back(fmt::format("{} refused", o.refused));
  if (o.icmp_errors > 0)
    parts.push_back(fmt::format("{} ICMP error{}", o.icmp_errors, o.icmp_errors == 1 ? "" : "s"));
  if (o.local_errors > 0) parts.push_back(fmt::format("{} not sent", o.local_errors));
  if (o.timeouts > 0) {
    const std::string last = last_seen_hop(ev.request);
    parts.push_back(fmt::format("{} timed out{}", o.timeouts, last.empty() ? "" : " after " + last));
  }
  for (std::size_t i = 0; i < parts.size(); ++i) s += (i == 0 ? ": " : ", ") + parts[i];
  return s;
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string s;
  for (std::size_t i = 0; i < parts.size(); ++i) s += (i == 0 ? "" : sep) + parts[i];
  return s;
}

/// Kube-proxy's REJECT: no backend picked, and ICMP port unreachable came back.
std::optional<ServiceVerdict> no_endpoints(const ServiceEvidence& ev, const std::string& svc) {
  if (!ev.backends.empty() || !ev.untranslated) return std::nullopt;
  const UntranslatedReport& u = *ev.untranslated;
  const OutcomeSummary& o = u.evidence.outcome;
  if (o.refused == 0 || !o.icmp || !o.icmp->port_unreachable()) return std::nullopt;
  const std::string from = o.icmp->from.to_string();
  const std::string where = u.reject_node.empty() ? from : u.reject_node;
  // The kernel rate-limits ICMP errors (net.ipv4.icmp_ratelimit, per destination): past a
  // burst, a rejected SYN gets no answer and its connection times out instead.
  std::string share = fmt::format("{}/{} connections refused", o.refused, o.sent);
  if (o.timeouts > 0) share += fmt::format(", {} timed out", o.timeouts);
  ServiceVerdict v = make(ServiceVerdictKind::NoEndpoints,
                          fmt::format("no endpoints: kube-proxy's REJECT at {} answers {} with ICMP port "
                                      "unreachable ({})",
                                      where, svc, share),
                          last_seen_hop(u.evidence.request));
  v.details.push_back(fmt::format("ICMP {} from {}{}, no DNAT to any backend", o.icmp->describe(), from,
                                  u.reject_node.empty() ? "" : " (" + u.reject_node + ")"));
  if (ev.service.backends.empty()) {
    v.details.push_back(fmt::format("the inventory lists no endpoints for {}", svc));
  } else {
    v.details.push_back(
        fmt::format("the inventory lists {} endpoint(s) for {}, but kube-proxy's rules on {} have none",
                    ev.service.backends.size(), svc, where));
  }
  if (o.timeouts > 0) {
    v.details.push_back(
        fmt::format("{} connection{} got no answer: the kernel rate-limits the ICMP errors a REJECT sends",
                    o.timeouts, o.timeouts == 1 ? "" : "s"));
  }
  for (const auto& d : u.verdict.details) v.details.push_back(d);
  return v;
}

}  // namespace

const char* to_string(ServiceVerdictKind kind) {
  switch (kind) {
  case ServiceVerdictKind::Reachable:
    return "reachable";
  case ServiceVerdictKind::Partial:
    return "partial";
  case ServiceVerdictKind::NoEndpoints:
    return "no_endpoints";
  case ServiceVerdictKind::Unreachable:
    break;
  }
  return "unreachable";
}

std::string backend_name(const model::ServiceBackend& b) {
  if (b.pod.empty()) return b.ip.to_string();
  return b.node.empty() ? "pod " + b.pod : fmt::format("pod {} ({})", b.pod, b.node);
}

ServiceVerdict judge_service(const ServiceEvidence& ev) {
  const std::string svc = "service " + ev.service.full_name();
  if (auto v = no_endpoints(ev, svc)) return *v;
  int sent = 0, answered = 0;
  std::vector<std::string> failing, answering, shares;
  std::string hop;
  for (const auto& b : ev.backends) {
    sent += b.evidence.outcome.sent;
    answered += b.evidence.outcome.answered;
    const std::string name = backend_name(b.backend);
    shares.push_back(fmt::format("{}: {}", name, share_text(b.evidence)));
    if (b.verdict.reachable) {
      answering.push_back(fmt::format("{} {}", name, b.evidence.outcome.answered));
      continue;
    }
    failing.push_back(fmt::format("{}: {}", name, b.verdict.summary));
    if (hop.empty()) hop = b.verdict.hop;
  }
  if (ev.untranslated) {
    const UntranslatedReport& u = *ev.untranslated;
    sent += u.evidence.outcome.sent;
    answered += u.evidence.outcome.answered;
    shares.push_back("without a DNAT: " + share_text(u.evidence));
    if (!u.verdict.reachable) {
      failing.push_back(fmt::format("connections to the ClusterIP without a DNAT: {}", u.verdict.summary));
      if (hop.empty()) hop = u.verdict.hop;
    }
  }
  ServiceVerdict v;
  const std::size_t picked = ev.backends.size();
  if (failing.empty()) {
    v = make(ServiceVerdictKind::Reachable,
             fmt::format("reachable: {} answered {}/{} {} connections through {} backend{}: {}", svc,
                         answered, sent, to_string(ev.proto), picked, picked == 1 ? "" : "s",
                         join(answering, ", ")));
  } else if (!answering.empty()) {
    v = make(ServiceVerdictKind::Partial,
             fmt::format("{} of {} backends fail{}: {}", failing.size(), picked + (ev.untranslated ? 1 : 0),
                         failing.size() == 1 ? "s" : "", join(failing, "; ")),
             hop);
  } else {
    v = make(
        ServiceVerdictKind::Unreachable,
        fmt::format("{} does not answer ({}/{} connections): {}", svc, answered, sent, join(failing, "; ")),
        hop);
  }
  for (auto& s : shares) v.details.push_back(std::move(s));
  for (const auto& b : ev.backends) {
    if (b.verdict.reachable) continue;
    for (const auto& d : b.verdict.details) {
      if (d != b.verdict.summary) v.details.push_back(backend_name(b.backend) + ": " + d);
    }
  }
  if (ev.untranslated && !ev.untranslated->verdict.reachable) {
    for (const auto& d : ev.untranslated->verdict.details) v.details.push_back("without a DNAT: " + d);
  }
  for (const auto& known : ev.service.backends) {
    bool picked_it = false;
    for (const auto& b : ev.backends) picked_it = picked_it || b.backend.ip == known.ip;
    if (!picked_it) {
      v.details.push_back(
          fmt::format("{} was not picked by any of the {} connections: not checked (more with "
                      "--connections)",
                      backend_name(known), sent));
    }
  }
  return v;
}

}  // namespace podpath::check

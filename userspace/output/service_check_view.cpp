#include "output/service_check_view.hpp"

#include <fmt/format.h>

#include "output/check_parts.hpp"
#include "output/check_view.hpp"
#include "output/flow_json.hpp"
#include "util/text.hpp"

namespace podpath::output {
namespace {

using check::ServiceVerdictKind;
using namespace check_parts;

std::string service_text(const model::Service& s) {
  return fmt::format("service {} {}:{}", s.full_name(), s.cluster_ip.to_string(), s.port);
}

std::string verdict_head(const check::ServiceVerdict& v, const Style& style) {
  switch (v.kind) {
  case ServiceVerdictKind::Reachable:
    return style.green("REACHABLE");
  case ServiceVerdictKind::Partial:
    return style.red("PARTIALLY REACHABLE");
  case ServiceVerdictKind::NoEndpoints:
    return style.red("NO ENDPOINTS");
  case ServiceVerdictKind::Unreachable:
    break;
  }
  return style.red("NOT REACHABLE");
}

/// A backend's (or the untranslated connections') evidence as a pod check's report.
check::CheckReport as_check(const check::Evidence& ev, const check::Verdict& v) {
  check::CheckReport r;
  r.evidence = ev;
  r.verdict = v;
  return r;
}

nlohmann::json judged_json(const check::Evidence& ev, const check::Verdict& v) {
  nlohmann::json j = check_to_json(as_check(ev, v));
  for (const char* k : {"mode", "drop_tracking", "attach", "cluster", "duration_ms", "mtu_probe"}) j.erase(k);
  return j;
}

}  // namespace

std::string render_service_check(const check::ServiceReport& r, bool color) {
  const Style style(color);
  const check::ServiceEvidence& ev = r.evidence;
  std::size_t connections = ev.untranslated ? ev.untranslated->evidence.probes.size() : 0;
  for (const auto& b : ev.backends) connections += b.evidence.probes.size();
  std::string out;
  out += fmt::format("{}  {} → {}   {} × {}\n", style.bold("podpath check"), endpoint_text(ev.client),
                     printable(service_text(ev.service)), to_string(ev.proto), connections);
  out += session_line(r.cluster, r.attach, r.drops, style) + "\n";
  for (const auto& b : ev.backends) {
    std::string head = fmt::format("backend {} {}:{} · {} connection{}", check::backend_name(b.backend),
                                   b.backend.ip.to_string(), b.port, b.evidence.probes.size(),
                                   b.evidence.probes.size() == 1 ? "" : "s");
    if (!b.backend.rule.empty()) head += " · rule " + b.backend.rule;
    out += style.bold(printable(head)) + "\n";
    render_probed(out, b.evidence, "connections", style);
    render_verdict(out, b.verdict.reachable ? style.green("  OK") : style.red("  FAILS"), b.verdict);
    out += "\n";
  }
  if (ev.untranslated) {
    const auto& u = *ev.untranslated;
    out += style.bold(fmt::format("without a DNAT (no backend picked) · {} connection{}",
                                  u.evidence.probes.size(), u.evidence.probes.size() == 1 ? "" : "s")) +
           "\n";
    render_probed(out, u.evidence, "connections", style);
    out += "\n";
  }
  out += fmt::format("{}  {}\n", verdict_head(r.verdict, style), printable(r.verdict.summary));
  for (const auto& d : r.verdict.details) out += "  · " + printable(d) + "\n";
  return out;
}

nlohmann::json service_check_to_json(const check::ServiceReport& r) {
  const check::ServiceEvidence& ev = r.evidence;
  const model::Service& s = ev.service;
  nlohmann::json known = nlohmann::json::array();
  for (const auto& b : s.backends) {
    known.push_back({{"pod", b.pod}, {"ip", b.ip.to_string()}, {"node", b.node}, {"rule", b.rule}});
  }
  nlohmann::json backends = nlohmann::json::array();
  for (const auto& b : ev.backends) {
    nlohmann::json j = judged_json(b.evidence, b.verdict);
    j["backend"] = {{"pod", b.backend.pod},
                    {"ip", b.backend.ip.to_string()},
                    {"port", b.port},
                    {"node", b.backend.node},
                    {"rule", b.backend.rule}};
    j["connections"] = b.evidence.probes.size();
    backends.push_back(std::move(j));
  }
  nlohmann::json untranslated = nullptr;
  if (ev.untranslated) {
    untranslated = judged_json(ev.untranslated->evidence, ev.untranslated->verdict);
    untranslated["connections"] = ev.untranslated->evidence.probes.size();
    untranslated["reject_node"] = ev.untranslated->reject_node;
  }
  return {{"mode", "service"},
          {"src", endpoint_to_json(ev.client)},
          {"service",
           {{"name", s.full_name()},
            {"cluster_ip", s.cluster_ip.to_string()},
            {"port", s.port},
            {"proto", to_string(ev.proto)},
            {"target_port", s.target_port},
            {"rule", s.rule},
            {"backends", known}}},
          {"reachable", r.verdict.reachable},
          {"verdict",
           {{"kind", to_string(r.verdict.kind)},
            {"summary", r.verdict.summary},
            {"hop", r.verdict.hop},
            {"details", r.verdict.details}}},
          {"backends", backends},
          {"untranslated", untranslated},
          {"drop_tracking", r.drops},
          {"attach", r.attach},
          {"cluster", r.cluster},
          {"duration_ms", r.duration_ms}};
}

}  // namespace podpath::output

#include "output/check_view.hpp"

#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "output/check_parts.hpp"
#include "output/flow_json.hpp"
#include "output/text.hpp"
#include "util/text.hpp"

namespace podpath::output {
namespace check_parts {

using check::DropFinding;
using check::Evidence;
using check::GatewayRouteFact;
using check::HopReport;
using check::IcmpError;
using check::PathReport;
using check::PlaceKind;
using check::ProbeOutcome;
using check::ProbeResult;
using check::Protocol;

// ---- rendering: text (a table per direction, then the verdict) and JSON (docs/check.md)
std::string endpoint_text(const flows::Endpoint& e) {
  std::string s = e.name == e.ip.to_string() || e.name == "unknown pod" ? e.ip.to_string()
                                                                        : e.name + " " + e.ip.to_string();
  if (!e.node.empty() && e.kind == flows::EndpointKind::Pod) s += " (" + e.node + ")";
  return printable(s);
}

std::string proto_text(const Evidence& ev) {
  switch (ev.proto) {
  case Protocol::Tcp:
    return fmt::format("TCP :{}", ev.port);
  case Protocol::Udp:
    return fmt::format("UDP :{}", ev.port);
  case Protocol::Icmp:
    break;
  }
  return "ICMP echo";
}

std::string latency_text(std::uint64_t ns) {
  if (ns < 1000) return fmt::format("+{} ns", ns);
  if (ns < 10'000'000) return fmt::format("+{} µs", ns / 1000);
  return fmt::format("+{} ms", ns / 1'000'000);
}

std::string hop_status(const HopReport& h) {
  switch (h.hop.state) {
  case flows::HopState::Virtual:
    return "not observed";
  case flows::HopState::Unwatched:
    return "not watched";
  case flows::HopState::Unknown:
    return "unknown";
  case flows::HopState::Missing:
    return "NOT SEEN";
  case flows::HopState::Unexpected:
    return fmt::format("seen {}/{} (off path)", h.seen, h.total);
  case flows::HopState::Observed:
    break;
  }
  return fmt::format("seen {}/{}", h.seen, h.total);
}

void render_path(std::string& out, const char* title, const flows::Endpoint& from, const flows::Endpoint& to,
                 const PathReport& path, const Style& style) {
  out += fmt::format("{}  {} → {}\n", style.bold(title), from.ip.to_string(), to.ip.to_string());
  std::size_t wn = 0, wi = 0, ws = 0, wl = 0;
  std::vector<std::array<std::string, 5>> rows;
  for (const auto& h : path.hops) {
    std::array<std::string, 5> r{printable(h.hop.node), printable(h.hop.interface),
                                 flows::to_string(h.hop.direction), hop_status(h),
                                 h.latency_ns ? latency_text(*h.latency_ns) : ""};
    wn = std::max(wn, display_width(r[0]));
    wi = std::max(wi, display_width(r[1]));
    ws = std::max(ws, display_width(r[3]));
    wl = std::max(wl, display_width(r[4]));
    rows.push_back(std::move(r));
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& h = path.hops[i];
    std::string status = pad_right(rows[i][3], ws);
    if (h.hop.state == flows::HopState::Missing)
      status = style.red(status);
    else if (h.seen > 0 && h.seen < h.total)
      status = style.yellow(status);
    else if (h.seen > 0)
      status = style.green(status);
    std::string note = h.hop.note;
    if (h.hop.state == flows::HopState::Unexpected) {
      note = "not on the routed path (e.g. a copy a bridge flooded to every port)";
    }
    out +=
        fmt::format("  {}  {}  {}  {}  {}  {}\n", pad_right(rows[i][0], wn), pad_right(rows[i][1], wi),
                    pad_right(rows[i][2], 7), status, pad_left(rows[i][4], wl), style.dim(printable(note)));
    if (!h.hop.nat.empty()) out += fmt::format("  {}  ↳ {}\n", std::string(wn, ' '), printable(h.hop.nat));
  }
  if (path.hops.empty()) out += "  (no path: " + printable(path.composer_verdict) + ")\n";
}

std::string probe_line(const ProbeOutcome& p) {
  std::string s = fmt::format("#{} ", p.seq);
  if (p.key.proto == IPPROTO_ICMP) {
    s += fmt::format("echo id {} seq {}", p.key.sport, p.seq);
  } else {
    s += fmt::format("{} {} → {}", p.key.proto == IPPROTO_TCP ? "TCP" : "UDP", p.key.sport, p.key.dport);
  }
  s += fmt::format(", {} bytes: {}", p.size, to_string(p.result));
  if (const auto rtt = p.rtt_ns()) s += fmt::format(" after {:.2f} ms", static_cast<double>(*rtt) / 1e6);
  if (p.icmp) s += fmt::format(" (ICMP {} from {})", p.icmp->describe(), p.icmp->from.to_string());
  if (p.result == ProbeResult::LocalError && p.error != 0) s += fmt::format(" ({})", std::strerror(p.error));
  return s;
}

nlohmann::json icmp_json(const IcmpError& e) {
  return {{"from", e.from.to_string()},
          {"type", e.type},
          {"code", e.code},
          {"info", e.info},
          {"text", e.describe()}};
}

nlohmann::json path_json(const PathReport& path) {
  nlohmann::json hops = nlohmann::json::array();
  for (const auto& h : path.hops) {
    hops.push_back({{"node", h.hop.node},
                    {"interface", h.hop.interface},
                    {"direction", flows::to_string(h.hop.direction)},
                    {"role", model::to_string(h.hop.role)},
                    {"state", flows::to_string(h.hop.state)},
                    {"seen", h.seen},
                    {"total", h.total},
                    {"packets", h.packets},
                    {"latency_ns", h.latency_ns ? nlohmann::json(*h.latency_ns) : nlohmann::json(nullptr)},
                    {"route", h.hop.route},
                    {"note", h.hop.note},
                    {"nat", h.hop.nat.empty() ? nlohmann::json(nullptr) : nlohmann::json(h.hop.nat)}});
  }
  nlohmann::json out = {{"complete", path.complete}, {"hops", hops}, {"path_verdict", path.composer_verdict}};
  const auto last = path.last_seen();
  out["last_seen"] = last ? nlohmann::json(path.hops[*last].describe()) : nlohmann::json(nullptr);
  return out;
}

nlohmann::json drops_json(const std::vector<DropFinding>& drops) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& d : drops) {
    out.push_back({{"place", d.place.name},
                   {"place_kind", d.place.kind == PlaceKind::Node      ? "node"
                                  : d.place.kind == PlaceKind::Gateway ? "gateway"
                                  : d.place.kind == PlaceKind::Pod     ? "pod"
                                                                       : "unknown"},
                   {"interface", d.ifname},
                   {"reason", d.reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.reason)},
                   {"location", d.location},
                   {"function", d.function()},
                   {"direction", d.reply ? "reply" : "request"},
                   {"count", d.count},
                   {"ip_len", d.ip_len},
                   {"df", d.df},
                   {"ttl", d.ttl},
                   {"seqs", d.seqs}});
  }
  return out;
}

nlohmann::json gateway_json(const std::optional<GatewayRouteFact>& g) {
  if (!g) return nullptr;
  return {{"gateway", g->gateway},
          {"dst", g->dst.to_string()},
          {"expected", g->expected ? nlohmann::json(*g->expected) : nlohmann::json(nullptr)},
          {"expected_node", g->expected_node},
          {"read", g->read},
          {"actual", g->actual ? nlohmann::json(*g->actual) : nlohmann::json(nullptr)},
          {"actual_node", g->actual_node},
          {"missing", g->missing()},
          {"wrong", g->wrong()}};
}

void render_probed(std::string& out, const Evidence& ev, const char* probes_title, const Style& style) {
  render_path(out, "request", ev.src, ev.dst, ev.request, style);
  if (ev.reply.any_seen()) {
    render_path(out, "reply", ev.dst, ev.src, ev.reply, style);
  } else if (ev.outcome.icmp) {
    out += style.bold("reply") + fmt::format("  none seen (ICMP {} came back from {})\n",
                                             ev.outcome.icmp->describe(), ev.outcome.icmp->from.to_string());
  } else {
    out += style.bold("reply") + "  none seen\n";
  }
  out += style.bold(probes_title) + "\n";
  for (const auto& p : ev.probes) out += "  " + probe_line(p) + "\n";
}

/// The verdict and the session line name pods, interfaces and namespaces.
void render_verdict(std::string& out, const std::string& head, const check::Verdict& v) {
  out += fmt::format("{}  {}\n", head, printable(v.summary));
  for (const auto& d : v.details) out += "  · " + printable(d) + "\n";
}

std::string session_line(const std::string& cluster, const std::string& attach, const std::string& drops,
                         const Style& style) {
  return style.dim(printable(fmt::format("  {} · {} · {}", cluster, attach, drops))) + "\n";
}

}  // namespace check_parts

using namespace check_parts;

std::string render_check(const check::CheckReport& r, bool color) {
  const Style style(color);
  const Evidence& ev = r.evidence;
  std::string out;
  out += fmt::format("{}  {} → {}   {} × {}\n", style.bold("podpath check"), endpoint_text(ev.src),
                     endpoint_text(ev.dst), proto_text(ev), ev.probes.size());
  out += session_line(r.cluster, r.attach, r.drops, style) + "\n";
  render_probed(out, ev, "probes", style);
  if (ev.mtu) {
    out += fmt::format("  large-packet probe: {} × {} bytes with DF set: {} answered\n", ev.mtu->sent,
                       ev.mtu->size, ev.mtu->answered);
  }
  out += "\n";
  render_verdict(out, r.verdict.reachable ? style.green("REACHABLE") : style.red("NOT REACHABLE"), r.verdict);
  return out;
}

std::string render_passive(const check::PassiveReport& r, bool color) {
  const Style style(color);
  std::string out;
  for (const auto& p : r.problems) {
    const Evidence& ev = p.evidence;
    out +=
        fmt::format("{} {} → {}  {}\n", style.bold("problem:"), endpoint_text(ev.src), endpoint_text(ev.dst),
                    ev.proto == Protocol::Icmp ? std::string("ICMP") : proto_text(ev));
    render_path(out, "request", ev.src, ev.dst, ev.request, style);
    if (ev.reply.any_seen()) render_path(out, "reply", ev.dst, ev.src, ev.reply, style);
    render_verdict(out, p.verdict.reachable ? style.yellow("NOTE") : style.red("NOT REACHABLE"), p.verdict);
    out += "\n";
  }
  out += fmt::format("{}: {} conversation(s) observed in {:.1f} s, {} problem(s), {} drop record(s)\n",
                     style.bold("podpath check --passive"), r.conversations,
                     static_cast<double>(r.duration_ms) / 1000.0, r.problems.size(), r.drops_seen);
  out += session_line(r.cluster, r.attach, r.drops, style);
  return out;
}

nlohmann::json check_to_json(const check::CheckReport& r) {
  const Evidence& ev = r.evidence;
  nlohmann::json probes = nlohmann::json::array();
  for (const auto& p : ev.probes) {
    probes.push_back(
        {{"seq", p.seq},
         {"sport", p.key.sport},
         {"dport", p.key.dport},
         {"size", p.size},
         {"result", to_string(p.result)},
         {"rtt_ns", p.rtt_ns() ? nlohmann::json(*p.rtt_ns()) : nlohmann::json(nullptr)},
         {"icmp", p.icmp ? icmp_json(*p.icmp) : nlohmann::json(nullptr)},
         {"error", p.error != 0 ? nlohmann::json(std::strerror(p.error)) : nlohmann::json(nullptr)}});
  }
  nlohmann::json links = nlohmann::json::array();
  for (const auto& l : ev.links) {
    links.push_back({{"place", l.place.name},
                     {"interface", l.ifname},
                     {"role", model::to_string(l.role)},
                     {"pod", l.pod},
                     {"up", l.up},
                     {"running", l.running},
                     {"oper_state", l.oper_state},
                     {"mtu", l.mtu}});
  }
  nlohmann::json neighbours = nlohmann::json::array();
  for (const auto& n : ev.neighbours) {
    neighbours.push_back(
        {{"place", n.place.name}, {"dev", n.dev}, {"ip", n.ip.to_string()}, {"state", n.state}});
  }
  nlohmann::json mtu = nullptr;
  if (ev.mtu) {
    mtu = {{"size", ev.mtu->size},
           {"sent", ev.mtu->sent},
           {"answered", ev.mtu->answered},
           {"icmp", ev.mtu->icmp ? icmp_json(*ev.mtu->icmp) : nlohmann::json(nullptr)},
           {"path", path_json(ev.mtu->path)},
           {"drops", drops_json(ev.mtu->drops)}};
  }
  return {{"mode", ev.passive ? "passive" : "probe"},
          {"src", endpoint_to_json(ev.src)},
          {"dst", endpoint_to_json(ev.dst)},
          {"proto", to_string(ev.proto)},
          {"port", ev.port},
          {"reachable", r.verdict.reachable},
          {"verdict",
           {{"kind", to_string(r.verdict.kind)},
            {"summary", r.verdict.summary},
            {"hop", r.verdict.hop},
            {"details", r.verdict.details}}},
          {"probes", probes},
          {"outcome",
           {{"sent", ev.outcome.sent},
            {"answered", ev.outcome.answered},
            {"refused", ev.outcome.refused},
            {"icmp_errors", ev.outcome.icmp_errors},
            {"local_errors", ev.outcome.local_errors},
            {"timeouts", ev.outcome.timeouts},
            {"rtt_ns", ev.outcome.rtt_ns ? nlohmann::json(*ev.outcome.rtt_ns) : nlohmann::json(nullptr)}}},
          {"request", path_json(ev.request)},
          {"reply", path_json(ev.reply)},
          {"drops", drops_json(ev.drops)},
          {"mtu_probe", mtu},
          {"facts",
           {{"gateway_to_dst", gateway_json(ev.gateway_to_dst)},
            {"gateway_to_src", gateway_json(ev.gateway_to_src)},
            {"links", links},
            {"neighbours", neighbours}}},
          {"drop_tracking", r.drops},
          {"attach", r.attach},
          {"cluster", r.cluster},
          {"duration_ms", r.duration_ms}};
}

nlohmann::json passive_to_json(const check::PassiveReport& r) {
  nlohmann::json problems = nlohmann::json::array();
  for (const auto& p : r.problems) problems.push_back(check_to_json(p));
  return {{"mode", "passive"},    {"conversations", r.conversations}, {"drops", r.drops_seen},
          {"problems", problems}, {"drop_tracking", r.drops},         {"attach", r.attach},
          {"cluster", r.cluster}, {"duration_ms", r.duration_ms}};
}

}  // namespace podpath::output

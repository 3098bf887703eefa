#include "cluster/check.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "check/correlate.hpp"
#include "check/diagnose.hpp"
#include "check/facts.hpp"
#include "cluster/json_fields.hpp"
#include "net/netns.hpp"

namespace podpath::cluster {
namespace {

using nlohmann::json;

/// POST /v1/check sends 3 probes (2 s timeout each) and waits for the refresh that counted
/// them (at most two intervals plus 2 s): well within this.
constexpr std::chrono::milliseconds kCheckTimeout{30'000};
constexpr std::chrono::milliseconds kReadTimeout{5000};
/// How long the other agents get to publish a refresh made after the probes.
constexpr std::chrono::milliseconds kSettleWait{6000};
constexpr std::chrono::milliseconds kSettleStep{100};
constexpr int kMaxErrno = 133;
/// The agent's probes: 2 s timeout each, then 300 ms for stragglers (server/check_endpoint.hpp's
/// CheckLimits; lab-mode check's defaults).
constexpr std::uint64_t kAgentProbeTimeoutNs = 2'000'000'000;
constexpr std::uint64_t kGraceNs = 300'000'000;
/// Two agents' records of one drop (agents of one kernel each trace it) lie this close.
constexpr std::uint64_t kSameDropNs = 1'000'000;

/// "1/10.10.129.2/36112/10.10.130.2/2048" (server/flow_snapshot.hpp's conversation_id).
std::optional<model::FlowKey> parse_flow_id(const std::string& id) {
  std::vector<std::string> parts;
  std::size_t at = 0;
  while (true) {
    const auto slash = id.find('/', at);
    parts.push_back(id.substr(at, slash == std::string::npos ? std::string::npos : slash - at));
    if (slash == std::string::npos) break;
    at = slash + 1;
  }
  if (parts.size() != 5 && !(parts.size() == 6 && parts[5] == "frag")) return std::nullopt;
  model::FlowKey k;
  const auto src = model::IpAddress::parse(parts[1]);
  const auto dst = model::IpAddress::parse(parts[3]);
  if (!src || !dst) return std::nullopt;
  try {
    k.proto = static_cast<std::uint8_t>(std::stoul(parts[0]));
    k.sport = static_cast<std::uint16_t>(std::stoul(parts[2]));
    k.dport = static_cast<std::uint16_t>(std::stoul(parts[4]));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  k.src = *src;
  k.dst = *dst;
  k.fragment = parts.size() == 6;
  return k;
}

std::optional<check::ProbeResult> parse_result(const std::string& text) {
  for (const auto r :
       {check::ProbeResult::Answered, check::ProbeResult::Refused, check::ProbeResult::IcmpError,
        check::ProbeResult::LocalError, check::ProbeResult::Timeout}) {
    if (text == check::to_string(r)) return r;
  }
  return std::nullopt;
}

/// strerror's text back to its errno (the agent reports the text).
int errno_of(const std::string& text) {
  for (int e = 1; e <= kMaxErrno; ++e) {
    if (text == std::strerror(e)) return e;
  }
  return EIO;
}

std::string agent_error(const kube::HttpResponse& r) {
  const auto body = json::parse(r.body, nullptr, false);
  const std::string e = str(body, "error");
  return e.empty() ? fmt::format("HTTP {}", r.status) : fmt::format("HTTP {}: {}", r.status, e);
}

/// One request to one agent; the error is one line naming the agent.
Result<json> call(const ClusterViewOptions& options, const AgentState& agent, const std::string& target,
                  std::optional<std::string> body, std::chrono::milliseconds timeout) {
  auto transport = options.transport(agent.endpoint, options.auth);
  kube::HttpRequest request;
  request.target = target;
  request.timeout = timeout;
  request.post_json = std::move(body);
  const kube::HttpResponse r = transport->get(request, nullptr);
  if (r.failure != kube::TransportFailure::None)
    return make_error(0, "cannot reach the agent on {} ({}): {}", agent.name(), agent.endpoint.display(),
                      r.failure_message);
  if (r.status == 429) {
    // The limiter: say when a check will be taken again.
    long seconds = 1;
    try {
      seconds = std::max(1L, std::stol(r.retry_after));
    } catch (const std::exception&) {
    }
    const auto at = std::chrono::system_clock::now() + std::chrono::seconds(seconds);
    return make_error(0, "the agent on {} takes no check now ({}): retry in {} s, at {}", agent.name(),
                      agent_error(r), seconds, clock_text(at));
  }
  if (r.status != 200) return make_error(0, "the agent on {} refused: {}", agent.name(), agent_error(r));
  auto j = json::parse(r.body, nullptr, false);
  if (!j.is_object())
    return make_error(0, "the agent on {} answered {} with something not JSON", agent.name(), target);
  return j;
}

/// The Place::name a packet to `e` ends up in (as lab-mode check names it).
std::string place_name_of(const flows::Endpoint& e) {
  if (e.kind == flows::EndpointKind::Pod && e.pod != nullptr) return e.pod->full_name();
  if (e.kind == flows::EndpointKind::Node) return e.node;
  return e.name;
}

/// The agent on `node` that answers, or why there is none.
Result<AgentState> agent_on(const std::vector<AgentState>& agents, const std::string& node,
                            const std::string& pod) {
  const AgentState* down = nullptr;
  for (const auto& a : agents) {
    if (a.name() != node) continue;
    if (a.reachable) return a;
    down = &a;
  }
  if (down != nullptr) {
    return make_error(0, "cannot check from pod {}: the {} (the agent on its node sends the probes){}", pod,
                      unreachable_reason(*down), down->error.empty() ? "" : ": " + down->error);
  }
  return make_error(0,
                    "cannot check from pod {}: no agent on {}, its node (the agent there sends the probes; "
                    "--agents or the DaemonSet's pods name the agents)",
                    pod, node);
}

/// When lab-mode check stops collecting drops: the last probe's answer or timeout (the large
/// probe's too), plus its grace; never after the prober's refresh.
std::uint64_t probes_end(const json& answer, const std::vector<check::ProbeOutcome>& probes) {
  std::uint64_t end = 0;
  const auto last = [&](const std::vector<check::ProbeOutcome>& ps) {
    for (const auto& p : ps) end = std::max(end, p.answered_ns.value_or(p.sent_ns + kAgentProbeTimeoutNs));
  };
  last(probes);
  if (const json& m = answer.value("mtu_probe", json()); m.is_object()) {
    if (auto large = probes_from_answer(m)) last(*large);
  }
  const auto refresh = num_or<std::uint64_t>(answer, "monotonic_ns");
  return end == 0 ? refresh : std::min(refresh, end + kGraceNs);
}

/// Waits until every other reachable agent served a refresh made after the check's own
/// (its observations of the probes), or kSettleWait passes.
void wait_for_agents(ClusterView& view, const std::string& prober, const json& answer) {
  const auto check_ns = num_or<std::uint64_t>(answer, "monotonic_ns");
  const auto check_offset = num_or<std::int64_t>(answer.value("clock", json::object()), "offset_ns");
  const auto until = std::chrono::steady_clock::now() + kSettleWait;
  while (true) {
    view.refresh();
    std::vector<std::string> behind;
    for (const auto& a : view.agents()) {
      if (!a.reachable || a.name() == prober) continue;
      const auto offset = num_or<std::int64_t>(a.node_json.value("clock", json::object()), "offset_ns");
      // On the prober's clock (the same clock when the offsets agree, as in a lab).
      const auto t = align_time(num_or<std::uint64_t>(a.flows_json, "monotonic_ns"), offset, check_offset);
      if (t < check_ns) behind.push_back(a.name());
    }
    if (behind.empty()) return;
    if (std::chrono::steady_clock::now() >= until) {
      spdlog::warn(
          "no refresh after the probes from the agent(s) on {}: their observations may miss the last probes",
          fmt::join(behind, ", "));
      return;
    }
    std::this_thread::sleep_for(kSettleStep);
  }
}

}  // namespace

Result<std::vector<check::ProbeOutcome>> probes_from_answer(const json& answer) {
  std::vector<check::ProbeOutcome> out;
  if (!answer.contains("probes") || !answer["probes"].is_array()) return Error{"/v1/check: no 'probes' list"};
  for (const auto& p : answer["probes"]) {
    check::ProbeOutcome o;
    o.seq = num_or<int>(p, "seq");
    const auto key = parse_flow_id(str(p, "flow"));
    if (!key) return make_error(0, "/v1/check: probe flow '{}' does not parse", str(p, "flow"));
    o.key = *key;
    const auto result = parse_result(str(p, "result"));
    if (!result) return make_error(0, "/v1/check: probe result '{}' is unknown", str(p, "result"));
    o.result = *result;
    o.size = num_or<std::uint16_t>(p, "size");
    o.sent_ns = num_or<std::uint64_t>(p, "sent_monotonic_ns");
    if (p.contains("rtt_ns") && p["rtt_ns"].is_number())
      o.answered_ns = o.sent_ns + p["rtt_ns"].get<std::uint64_t>();
    if (const json& i = p.value("icmp", json()); i.is_object()) {
      check::IcmpError e;
      if (auto from = model::IpAddress::parse(str(i, "from"))) e.from = *from;
      e.type = num_or<std::uint8_t>(i, "type");
      e.code = num_or<std::uint8_t>(i, "code");
      e.info = num_or<std::uint32_t>(i, "info");
      o.icmp = e;
    }
    if (const std::string e = str(p, "error"); !e.empty()) o.error = errno_of(e);
    out.push_back(std::move(o));
  }
  return out;
}

void add_agent_drops(AgentDrops& out, const json& drops, const model::Cluster& cluster,
                     const DropWindow& window) {
  if (!drops.is_array()) return;
  // The gateway's namespace, which no agent names (a lab's: the client can read its cookie).
  std::uint64_t gateway_cookie = 0;
  if (cluster.gateway && !cluster.gateway->netns.empty()) {
    if (auto c = net::netns_cookie(cluster.gateway->netns)) gateway_cookie = *c;
  }
  // Agents of one kernel (a lab's) may each report a drop in a namespace none of them owns,
  // each with its own tracker's time stamp: the same flow, place and location within 1 ms of
  // an earlier agent's record is that record.
  const std::size_t earlier = out.events.size();
  const auto reported = [&](const bpf::DropEvent& e, const std::string& place, const std::string& location) {
    for (std::size_t i = 0; i < earlier; ++i) {
      const auto& o = out.events[i];
      const auto gap = o.ts_ns > e.ts_ns ? o.ts_ns - e.ts_ns : e.ts_ns - o.ts_ns;
      if (o.key == e.key && gap < kSameDropNs && out.places[o.netns_cookie].name == place &&
          out.locations[o.location] == location)
        return true;
    }
    return false;
  };
  for (const auto& d : drops) {
    const json& f = d.value("flow", json::object());
    const auto src = model::IpAddress::parse(str(f.value("src", json::object()), "ip"));
    const auto dst = model::IpAddress::parse(str(f.value("dst", json::object()), "ip"));
    if (!src || !dst) continue;
    bpf::DropEvent e;
    e.key.src = *src;
    e.key.dst = *dst;
    e.key.proto = num_or<std::uint8_t>(f, "proto_number");
    e.key.sport = num_or<std::uint16_t>(f, "sport");
    e.key.dport = num_or<std::uint16_t>(f, "dport");
    e.ts_ns =
        align_time(num_or<std::uint64_t>(d, "monotonic_ns"), window.agent_offset_ns, window.prober_offset_ns);
    if (window.until_ns != 0 && e.ts_ns > window.until_ns) continue;
    e.reason_name = str(d, "reason");
    e.has_reason = !e.reason_name.empty();
    const json& hop = d.value("hop", json::object());
    e.ifname = str(hop, "interface");
    e.ifindex = num_or<std::uint32_t>(hop, "ifindex");
    e.ip_len = num_or<std::uint16_t>(d, "ip_len");
    e.ttl = num_or<std::uint8_t>(d, "ttl");
    e.df = d.value("df", false);
    e.tcp_flags = num_or<std::uint8_t>(d, "tcp_flags");

    const json& pj = d.value("place", json::object());
    check::Place place;
    const std::string kind = str(pj, "kind");
    place.name = str(pj, "name");
    if (kind == "node") {
      place.kind = check::PlaceKind::Node;
    } else if (kind == "pod") {
      place.kind = check::PlaceKind::Pod;
      const model::Pod* pod = cluster.find_pod(place.name);
      place.node = pod != nullptr ? pod->node : str(hop, "node");
    } else if (gateway_cookie != 0 && place.name == fmt::format("netns {}", gateway_cookie)) {
      place = {check::PlaceKind::Gateway, cluster.gateway->name.empty() ? "gateway" : cluster.gateway->name,
               ""};
    }
    if (reported(e, place.name, str(d, "location"))) continue;
    std::uint64_t cookie = 0;
    for (const auto& [c, p] : out.places) {
      if (p == place) cookie = c;
    }
    if (cookie == 0) {
      cookie = out.places.size() + 1;
      out.places[cookie] = place;
    }
    e.netns_cookie = cookie;
    e.location = out.locations.size();
    out.locations.push_back(str(d, "location"));
    out.events.push_back(std::move(e));
  }
  std::sort(out.events.begin(), out.events.end(),
            [](const bpf::DropEvent& a, const bpf::DropEvent& b) { return a.ts_ns < b.ts_ns; });
}

void mark_unknown(check::PathReport& path, const std::map<std::string, std::string>& unknown) {
  if (unknown.empty()) return;
  const std::string* reason = nullptr;
  for (auto& h : path.hops) {
    const auto it = unknown.find(h.hop.node);
    if (it == unknown.end() || h.seen > 0 || h.hop.state == flows::HopState::Virtual) continue;
    h.hop.state = flows::HopState::Unknown;
    h.hop.stats.reset();
    h.hop.note = "unknown: " + it->second;
    if (reason == nullptr) reason = &it->second;
  }
  if (reason == nullptr) return;
  path.complete = std::none_of(path.hops.begin(), path.hops.end(), [](const check::HopReport& h) {
    return h.hop.state == flows::HopState::Missing;
  });
  path.composer_verdict = "unknown: " + *reason;
  if (const auto last = path.last_seen())
    path.composer_verdict += "; seen up to " + path.hops[*last].describe();
}

Result<check::CheckReport> run_cluster_check(const ClusterViewOptions& options,
                                             const ClusterCheckRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  auto opened = ClusterView::open(options);
  if (!opened) return opened.error();
  ClusterView& view = **opened;
  const model::ClusterSnapshot names = view.names();  // the endpoints point into it
  auto service = check::resolve_service(*names, request.dst, request.port, std::nullopt);
  if (!service) return service.error();
  if (*service) {
    return make_error(0,
                      "{} is a Service: checking a Service through kube-proxy needs a local session (podpath "
                      "check without --cluster, on a node)",
                      request.dst);
  }
  auto src = check::resolve_target(*names, view.resolver(), request.src, false);
  if (!src) return src.error();
  auto dst = check::resolve_target(*names, view.resolver(), request.dst, false);
  if (!dst) return dst.error();
  const flows::Endpoint& s = src->endpoint;
  if (s.kind != flows::EndpointKind::Pod || s.pod == nullptr) {
    return make_error(0,
                      "with --cluster the source must be a pod (the agent on its node sends the probes from "
                      "inside it); {} is {}",
                      request.src,
                      s.kind == flows::EndpointKind::Pod ? "an address no known pod holds"
                                                         : flows::to_string(s.kind));
  }
  if (auto r = check::check_probe_addresses(s.ip, dst->endpoint.ip); !r) return r.error();
  auto prober = agent_on(view.agents(), s.pod->node, s.pod->full_name());
  if (!prober) return prober.error();

  json body = {{"source", s.pod->full_name()},
               {"destination", dst->endpoint.ip.to_string()},
               {"protocol", check::to_string(request.proto)}};
  if (request.proto != check::Protocol::Icmp) body["port"] = request.port;
  auto answer = call(options, *prober, "/v1/check", body.dump(), kCheckTimeout);
  if (!answer) return answer.error();
  auto probes = probes_from_answer(*answer);
  if (!probes) return probes.error();
  if (!answer->value("settled", false))
    spdlog::warn(
        "the agent on {} answered before a refresh after its probes: its hops may miss the last ones",
        prober->name());

  // Every other agent's half: a refresh after the probes, and its drops.
  wait_for_agents(view, prober->name(), *answer);
  std::vector<AgentState> agents = view.agents();
  // Drops within lab-mode check's window: until the last probe was answered or timed out,
  // plus 300 ms; every agent's on the prober's clock.
  const auto prober_offset = num_or<std::int64_t>(answer->value("clock", json::object()), "offset_ns");
  const auto until = probes_end(*answer, *probes);
  AgentDrops drops;
  add_agent_drops(drops, answer->value("drops", json::array()), *names,
                  {until, prober_offset, prober_offset});
  for (auto& a : agents) {
    if (a.name() == prober->name()) {
      a.flows_json = {{"flows", answer->value("flows", json::array())}};  // the check's own observations
      a.reachable = a.ever_reached = true;
      continue;
    }
    if (!a.reachable) continue;
    auto d = call(options, a, "/v1/drops?limit=0", std::nullopt, kReadTimeout);
    if (!d) {
      spdlog::warn("{}", d.error().to_string());
      a.reachable = false;
      a.error = d.error().message;
      if (!a.unreachable_since) a.unreachable_since = std::chrono::system_clock::now();
      continue;
    }
    const auto offset = num_or<std::int64_t>(a.node_json.value("clock", json::object()), "offset_ns");
    add_agent_drops(drops, d->value("drops", json::array()), *names, {until, offset, prober_offset});
  }
  const MergedCluster merged = merge_agents(*names, agents);

  check::Evidence ev;
  ev.proto = request.proto;
  ev.port = request.port;
  ev.src = s;
  ev.dst = dst->endpoint;
  ev.probes = std::move(*probes);
  ev.outcome = check::summarize(ev.probes);
  const std::string mode = str(prober->node_json.value("drops", json::object()), "mode");
  ev.drops_tracked = !mode.starts_with("not tracked");
  ev.drop_reasons = ev.drops_tracked && mode.starts_with("drop reasons");
  const check::ProbeKeys keys = check::probe_keys(ev.probes);
  const auto records = check::store_records(merged.flows);
  ev.request = check::correlate_path(keys.request, records, ev.src, ev.dst, merged.topology);
  ev.reply = check::correlate_path(keys.reply, records, ev.dst, ev.src, merged.topology);
  mark_unknown(ev.request, merged.unknown);
  mark_unknown(ev.reply, merged.unknown);
  check::DropFilter filter;
  filter.cluster_only = !names->lab.empty();
  filter.request_destination = place_name_of(ev.dst);
  filter.reply_destination = place_name_of(ev.src);
  const auto findings = [&](const check::ProbeKeys& k) {
    return check::correlate_drops(
        drops.events, k.request, k.reply,
        [&](std::uint64_t c) {
          const auto it = drops.places.find(c);
          return it != drops.places.end() ? it->second : check::Place{};
        },
        [&](std::uint64_t a) { return a < drops.locations.size() ? drops.locations[a] : std::string(); },
        filter);
  };
  ev.drops = findings(keys);
  // The large-packet probe the agent sent after an answer, judged as lab-mode check judges it.
  if (const json& m = answer->value("mtu_probe", json()); m.is_object()) {
    auto large = probes_from_answer(m);
    if (!large) return large.error();
    check::MtuProbe mtu = check::mtu_probe_of(num_or<std::uint16_t>(m, "size"), *large);
    const check::ProbeKeys mk = check::probe_keys(*large);
    mtu.path = check::correlate_path(mk.request, records, ev.src, ev.dst, merged.topology);
    mark_unknown(mtu.path, merged.unknown);
    mtu.drops = findings(mk);
    ev.mtu = std::move(mtu);
  }
  check::gather_facts(ev, *names, merged.topology);

  check::CheckReport report;
  report.verdict = check::diagnose(ev);
  report.evidence = std::move(ev);
  report.cluster = view.describe();
  report.attach = fmt::format("probes sent by the agent on {} (POST /v1/check), every agent's observations",
                              prober->name());
  report.drops = mode.empty() ? std::string("as the agents track them") : mode;
  report.duration_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count());
  return report;
}

}  // namespace podpath::cluster

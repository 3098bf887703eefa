// `podpath check`: can pod A reach pod B, and if not, where do the packets stop and why.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <ostream>

#include "check/checker.hpp"
#include "check/evidence.hpp"
#include "cli/command.hpp"
#include "cli/live.hpp"
#include "inventory/cidrs.hpp"
#include "inventory/resolver.hpp"
#include "inventory/source.hpp"
#include "output/flow_json.hpp"
#include "output/terminal.hpp"
#include "output/text.hpp"

namespace podpath::cli {
namespace {

constexpr const char* kDescription =
    "Find out whether one pod can reach another, and if not, where the packets stop and why.\n"
    "Sends a few probes from inside SRC's network namespace (ICMP echo, a TCP connect, or UDP datagrams),\n"
    "follows each one hop by hop across the nodes (pod veth, cbr0, eth0, gateway, the other node), and\n"
    "explains a failure with the kernel's own evidence: the hop after which the packets were no longer\n"
    "seen, the kernel's drop reason and function, and the route, firewall, ARP or link state behind it.\n"
    "  podpath check web-1 db-0                      ICMP echo from pod web-1 to pod db-0\n"
    "  podpath check web-1 db-0 --proto tcp --port 5432\n"
    "  podpath check default/web-1 10.10.130.9       a pod (namespace/name) to an address\n"
    "  podpath check --passive --duration 30         no probes: judge the traffic already flowing\n"
    "Exit status: 0 reachable (passive: no problem seen), 1 not reachable (passive: problems seen),\n"
    "2 the check could not run (bad input, no privileges, no lab).";

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
  return s;
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
                 const PathReport& path, const output::Style& style) {
  out += fmt::format("{}  {} → {}\n", style.bold(title), from.ip.to_string(), to.ip.to_string());
  std::size_t wn = 0, wi = 0, ws = 0, wl = 0;
  std::vector<std::array<std::string, 5>> rows;
  for (const auto& h : path.hops) {
    std::array<std::string, 5> r{h.hop.node, h.hop.interface, flows::to_string(h.hop.direction),
                                 hop_status(h), h.latency_ns ? latency_text(*h.latency_ns) : ""};
    wn = std::max(wn, output::display_width(r[0]));
    wi = std::max(wi, output::display_width(r[1]));
    ws = std::max(ws, output::display_width(r[3]));
    wl = std::max(wl, output::display_width(r[4]));
    rows.push_back(std::move(r));
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& h = path.hops[i];
    std::string status = output::pad_right(rows[i][3], ws);
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
    out += fmt::format("  {}  {}  {}  {}  {}  {}\n", output::pad_right(rows[i][0], wn),
                       output::pad_right(rows[i][1], wi), output::pad_right(rows[i][2], 7), status,
                       output::pad_left(rows[i][4], wl), style.dim(note));
  }
  if (path.hops.empty()) out += "  (no path: " + path.composer_verdict + ")\n";
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
                    {"note", h.hop.note}});
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

std::string render_check(const check::CheckReport& r, bool color) {
  const output::Style style(color);
  const Evidence& ev = r.evidence;
  std::string out;
  out += fmt::format("{}  {} → {}   {} × {}\n", style.bold("podpath check"), endpoint_text(ev.src),
                     endpoint_text(ev.dst), proto_text(ev), ev.probes.size());
  out += style.dim(fmt::format("  {} · {} · {}", r.cluster, r.attach, r.drops)) + "\n\n";
  render_path(out, "request", ev.src, ev.dst, ev.request, style);
  if (ev.reply.any_seen()) {
    render_path(out, "reply", ev.dst, ev.src, ev.reply, style);
  } else if (ev.outcome.icmp) {
    out += style.bold("reply") + fmt::format("  none seen (ICMP {} came back from {})\n",
                                             ev.outcome.icmp->describe(), ev.outcome.icmp->from.to_string());
  } else {
    out += style.bold("reply") + "  none seen\n";
  }
  out += style.bold("probes") + "\n";
  for (const auto& p : ev.probes) out += "  " + probe_line(p) + "\n";
  if (ev.mtu) {
    out += fmt::format("  large-packet probe: {} × {} bytes with DF set: {} answered\n", ev.mtu->sent,
                       ev.mtu->size, ev.mtu->answered);
  }
  out += "\n";
  const std::string head = r.verdict.reachable ? style.green("REACHABLE") : style.red("NOT REACHABLE");
  out += fmt::format("{}  {}\n", head, r.verdict.summary);
  for (const auto& d : r.verdict.details) out += "  · " + d + "\n";
  return out;
}

std::string render_passive(const check::PassiveReport& r, bool color) {
  const output::Style style(color);
  std::string out;
  for (const auto& p : r.problems) {
    const Evidence& ev = p.evidence;
    out +=
        fmt::format("{} {} → {}  {}\n", style.bold("problem:"), endpoint_text(ev.src), endpoint_text(ev.dst),
                    ev.proto == Protocol::Icmp ? std::string("ICMP") : proto_text(ev));
    render_path(out, "request", ev.src, ev.dst, ev.request, style);
    if (ev.reply.any_seen()) render_path(out, "reply", ev.dst, ev.src, ev.reply, style);
    out += fmt::format("{}  {}\n", p.verdict.reachable ? style.yellow("NOTE") : style.red("NOT REACHABLE"),
                       p.verdict.summary);
    for (const auto& d : p.verdict.details) out += "  · " + d + "\n";
    out += "\n";
  }
  out += fmt::format("{}: {} conversation(s) observed in {:.1f} s, {} problem(s), {} drop record(s)\n",
                     style.bold("podpath check --passive"), r.conversations,
                     static_cast<double>(r.duration_ms) / 1000.0, r.problems.size(), r.drops_seen);
  out += style.dim(fmt::format("  {} · {} · {}", r.cluster, r.attach, r.drops)) + "\n";
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
          {"src", output::endpoint_to_json(ev.src)},
          {"dst", output::endpoint_to_json(ev.dst)},
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

class CheckCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand("check", kDescription);
    sub->add_option("endpoints", endpoints_,
                    "SRC and DST: pod names (name or namespace/name), node names or IP addresses; SRC must "
                    "be a pod or node (probes are sent from inside it). --passive: optional filter")
        ->type_name("SRC DST")
        ->expected(0, -1);
    // Values are checked in validated(), so that a mistake is one line like every other error.
    sub->add_option("--proto", proto_,
                    "What to probe with: icmp (echo), tcp (a connect to --port), udp "
                    "(datagrams to --port; an echoing service confirms delivery)")
        ->capture_default_str();
    sub->add_option("--port", port_, "Destination port for --proto tcp/udp (1-65535)");
    sub->add_option("--count", count_, "Number of probes (1-100)")->capture_default_str();
    sub->add_option("--interval", interval_s_, "Seconds between probes (0.01-10)")->capture_default_str();
    sub->add_option("--timeout", timeout_s_, "Seconds to wait for each probe's answer (0.1-60)")
        ->capture_default_str();
    sub->add_option("--size", size_,
                    "IP packet size of ICMP/UDP probes in bytes (48-9000), sent with Don't Fragment");
    sub->add_flag(
        "--no-mtu-probe", no_mtu_probe_,
        "Skip the large-packet probe (after a success, one DF echo as large as SRC's MTU, to find MTU "
        "blackholes)");
    sub->add_flag("--passive", passive_,
                  "Send nothing: watch the traffic already flowing for --duration and report conversations "
                  "that fail (SYNs without replies, unanswered echoes, kernel drops)");
    sub->add_option("--duration", duration_s_, "--passive: seconds to watch (0.5-86400)")
        ->capture_default_str();
    add_output_option(*sub, format_);
    add_ready_file_option(*sub, ready_file_);
    attach_.add_to(*sub);
    return sub;
  }

  int run(Io& io) override {
    const auto request = validated();
    const StopOnSignal stop;
    auto options = attach_.session_options();
    resolve_early(options);
    options.loader.datapath.coarse_clock = false;  // per-hop latency needs the precise clock
    auto session = loader::Session::start(options);
    if (!session) throw UserError(session.error().to_string());
    auto checker = check::Checker::start(**session, {});
    if (!checker) throw UserError(checker.error().to_string());
    write_ready_file(ready_file_, **session);
    const bool json = format_ == "json";
    const bool color = !json && output::use_color(io.out);
    int rc = kExitOk;
    if (passive_) {
      check::PassiveRequest p;
      if (!endpoints_.empty()) p.src = endpoints_[0];
      if (endpoints_.size() > 1) p.dst = endpoints_[1];
      p.duration = std::chrono::milliseconds(std::llround(duration_s_ * 1000));
      auto report = (*checker)->observe(p, stop.flag());
      if (!report) throw UserError(report.error().to_string());
      if (json) {
        io.out << passive_to_json(*report).dump(2) << "\n";
      } else {
        io.out << render_passive(*report, color);
      }
      rc = report->problems.empty() ? kExitOk : kExitNegative;
    } else {
      auto report = (*checker)->run(request);
      if (!report) throw UserError(report.error().to_string());
      if (json) {
        io.out << check_to_json(*report).dump(2) << "\n";
      } else {
        io.out << render_check(*report, color);
      }
      rc = report->verdict.reachable ? kExitOk : kExitNegative;
    }
    io.out.flush();
    checker->reset();
    if (auto r = (*session)->stop(); !r) {
      io.err << "podpath check: " << r.error().to_string() << "\n";
      return kExitError;
    }
    return rc;
  }

 private:
  check::CheckRequest validated() const {
    const auto in = [](double v, double lo, double hi) { return v >= lo && v <= hi; };
    if (proto_ != "icmp" && proto_ != "tcp" && proto_ != "udp")
      throw UserError(fmt::format("--proto must be icmp, tcp or udp (got '{}')", proto_));
    if (port_ < 0 || port_ > 65535) throw UserError(fmt::format("--port must be 1-65535 (got {})", port_));
    if (!in(count_, 1, 100)) throw UserError(fmt::format("--count must be 1-100 (got {})", count_));
    if (!in(interval_s_, 0.01, 10))
      throw UserError(fmt::format("--interval must be 0.01-10 s (got {})", interval_s_));
    if (!in(timeout_s_, 0.1, 60))
      throw UserError(fmt::format("--timeout must be 0.1-60 s (got {})", timeout_s_));
    if (size_ != 0 && !in(size_, 48, 9000))
      throw UserError(fmt::format("--size must be 48-9000 bytes (got {})", size_));
    if (!in(duration_s_, 0.5, 86400))
      throw UserError(fmt::format("--duration must be 0.5-86400 s (got {})", duration_s_));
    if (endpoints_.size() > 2) throw UserError("give at most two endpoints: SRC and DST");
    check::CheckRequest r;
    r.proto = proto_ == "tcp"   ? check::Protocol::Tcp
              : proto_ == "udp" ? check::Protocol::Udp
                                : check::Protocol::Icmp;
    if (r.proto != check::Protocol::Icmp && port_ == 0 && !passive_)
      throw UserError(fmt::format("--proto {} needs --port", proto_));
    if (r.proto == check::Protocol::Icmp && port_ != 0)
      throw UserError("--port is only used with --proto tcp or udp");
    if (r.proto == check::Protocol::Tcp && size_ != 0)
      throw UserError("--size is only used with --proto icmp or udp");
    if (!passive_ && endpoints_.size() != 2) {
      throw UserError(
          "give SRC and DST (pod names or IPs), e.g. 'podpath check web-1 db-0', or use --passive");
    }
    if (passive_ && (port_ != 0 || proto_ != "icmp" || size_ != 0)) {
      throw UserError("--passive sends no probes: --proto, --port and --size do not apply");
    }
    if (!endpoints_.empty()) r.src = endpoints_[0];
    if (endpoints_.size() > 1) r.dst = endpoints_[1];
    r.port = static_cast<std::uint16_t>(port_);
    r.count = count_;
    r.interval = std::chrono::milliseconds(std::llround(interval_s_ * 1000));
    r.timeout = std::chrono::milliseconds(std::llround(timeout_s_ * 1000));
    r.size = static_cast<std::uint16_t>(size_);
    r.mtu_probe = !no_mtu_probe_;
    return r;
  }

  /// Bad names fail here, in one line, before anything is attached.
  void resolve_early(const loader::SessionOptions& options) const {
    auto loaded = inventory::load_cluster(options.source);
    if (!loaded) throw UserError(loaded.error().to_string());
    auto cidrs = inventory::CidrTable::build(loaded->cluster, options.cidrs);
    if (!cidrs) throw UserError(cidrs.error().to_string());
    const inventory::Resolver resolver(loaded->cluster, *cidrs);
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
      const bool source = i == 0 && !passive_;
      if (auto t = check::resolve_target(loaded->cluster, resolver, endpoints_[i], source); !t) {
        throw UserError(t.error().to_string());
      }
    }
  }

  AttachFlags attach_;
  std::vector<std::string> endpoints_;
  std::string proto_ = "icmp";
  int port_ = 0;
  int count_ = 3;
  double interval_s_ = 0.2;
  double timeout_s_ = 2.0;
  int size_ = 0;
  bool no_mtu_probe_ = false;
  bool passive_ = false;
  double duration_s_ = 10;
  std::string format_ = "table";
  std::string ready_file_;
};

}  // namespace

std::unique_ptr<Command> make_check_command() { return std::make_unique<CheckCommand>(); }

}  // namespace podpath::cli

// `podpath check`: can pod A reach pod B, and if not, where do the packets stop and why.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <ostream>

#include "check/checker.hpp"
#include "cli/check_run.hpp"
#include "cli/cluster_flags.hpp"
#include "cli/command.hpp"
#include "cli/live.hpp"
#include "output/terminal.hpp"
#include "util/text.hpp"

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
    "  podpath check web-1 web                       TCP connections through Service web's ClusterIP\n"
    "  podpath check web-1 10.96.0.10:80             the same, by ClusterIP:PORT\n"
    "  podpath check --passive --duration 30         no probes: judge the traffic already flowing\n"
    "A Service DST (a Service name [NAMESPACE/]NAME, or CLUSTER_IP:PORT) gets --connections TCP (UDP if its\n"
    "port is UDP) connections through kube-proxy's DNAT: each backend picked is shown with its connections,\n"
    "its path across the DNAT and a verdict (answers, port closed, its node unreachable, a firewall drop),\n"
    "then one for the Service: reachable, partially reachable, no endpoints (kube-proxy's REJECT), not\n"
    "reachable. A name that is both a pod's and a Service's means the pod.\n"
    "--cluster: the agent on SRC's node sends the probes (POST /v1/check), every agent reports its part.\n"
    "Exit status: 0 reachable (a Service: every connection answered; passive: no problem seen), 1 not\n"
    "reachable (a Service: any connection failed; passive: problems seen),\n"
    "2 the check could not run (bad input, no privileges, no lab).";

class CheckCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand("check", kDescription);
    sub->add_option(
           "endpoints", endpoints_,
           "SRC and DST: pod names (name or namespace/name), node names or IP addresses; DST may be a "
           "Service ([NAMESPACE/]NAME or CLUSTER_IP:PORT). SRC must be a pod or node (probes are sent "
           "from inside it). --passive: optional filter")
        ->type_name("SRC DST")
        ->expected(0, -1);
    // Values are checked in validated(), so that a mistake is one line like every other error.
    proto_opt_ = sub->add_option("--proto", proto_,
                                 "What to probe with: icmp (echo), tcp (a connect to --port), udp (datagrams "
                                 "to --port; an echoing service confirms delivery). A Service: its port's")
                     ->capture_default_str();
    sub->add_option("--port", port_, "Destination port for --proto tcp/udp (1-65535); a Service's port");
    count_opt_ = sub->add_option("--count", count_, "Number of probes (1-100)")->capture_default_str();
    connections_opt_ =
        sub->add_option("--connections", connections_, "A Service: connections through it (1-100)")
            ->capture_default_str();
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
    attach_.add_to(*sub, /*with_node=*/true);
    cluster_.add_to(*sub);
    return sub;
  }

  int run(Io& io) override {
    const auto request = validated();
    if (cluster_.enabled)
      return run_cluster_pod_check(cluster_.options(attach_.cluster), request, passive_, format_, io);
    const StopOnSignal stop;
    auto options = attach_.session_options();
    // Bad names fail here, in one line, before anything is attached.
    check::DestinationHints hints{request.port, std::nullopt};
    if (proto_opt_->count() > 0) hints.proto = request.proto;
    const auto service = check::resolve_endpoints(options, endpoints_, !passive_, hints);
    if (!service) throw UserError(service.error().to_string());
    validate_for(service->has_value(), request);
    options.loader.datapath.coarse_clock = false;  // per-hop latency needs the precise clock
    auto session = loader::Session::start(options);
    if (!session) throw UserError(session.error().to_string());
    auto checker = check::Checker::start(**session, {});
    if (!checker) throw UserError(checker.error().to_string());
    write_ready_file(ready_file_, (*session)->loader().describe());
    const bool json = format_ == "json";
    const bool color = !json && output::use_color(io.out);
    int rc = kExitOk;
    if (*service) {
      check::ServiceCheckRequest sr{request.src, **service, connections_, request.interval, request.timeout};
      rc = run_service_check(**checker, sr, io.out, json, color);
    } else if (passive_) {
      check::PassiveRequest p;
      if (!endpoints_.empty()) p.src = endpoints_[0];
      if (endpoints_.size() > 1) p.dst = endpoints_[1];
      p.duration = std::chrono::milliseconds(std::llround(duration_s_ * 1000));
      rc = run_passive_check(**checker, p, stop.flag(), io.out, json, color);
    } else {
      rc = run_pod_check(**checker, request, io.out, json, color);
    }
    io.out.flush();
    checker->reset();
    if (auto r = (*session)->stop(); !r) {
      io.err << "podpath check: " << printable(r.error().to_string()) << "\n";
      return kExitError;
    }
    return rc;
  }

 private:
  check::CheckRequest validated() const {
    if (proto_ != "icmp" && proto_ != "tcp" && proto_ != "udp")
      throw UserError(fmt::format("--proto must be icmp, tcp or udp (got '{}')", proto_));
    check_flag_ranges(port_, count_, connections_, interval_s_, timeout_s_, size_, duration_s_);
    if (endpoints_.size() > 2) throw UserError("give at most two endpoints: SRC and DST");
    check::CheckRequest r;
    r.proto = proto_ == "tcp"   ? check::Protocol::Tcp
              : proto_ == "udp" ? check::Protocol::Udp
                                : check::Protocol::Icmp;
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

  /// The flags that apply to a Service DST, or to any other.
  void validate_for(bool service, const check::CheckRequest& r) const {
    if (service) {
      if (count_opt_->count() > 0 || size_ != 0 || no_mtu_probe_)
        throw UserError("--count, --size and --no-mtu-probe are for pods; a Service takes --connections N");
      return;
    }
    if (connections_opt_->count() > 0)
      throw UserError("--connections is for a Service DST; pods take --count");
    if (r.proto != check::Protocol::Icmp && port_ == 0 && !passive_)
      throw UserError(fmt::format("--proto {} needs --port", proto_));
    if (r.proto == check::Protocol::Icmp && port_ != 0)
      throw UserError("--port is only used with --proto tcp or udp (or a Service DST)");
  }

  AttachFlags attach_;
  ClusterViewFlags cluster_;
  CLI::Option* proto_opt_ = nullptr;
  CLI::Option* count_opt_ = nullptr;
  CLI::Option* connections_opt_ = nullptr;
  int connections_ = 6;
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

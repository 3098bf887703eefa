#include "cli/check_run.hpp"

#include <fmt/format.h>

#include "cli/command.hpp"
#include "cluster/check.hpp"
#include "output/check_view.hpp"
#include "output/service_check_view.hpp"
#include "output/terminal.hpp"
#include "util/text.hpp"

namespace podpath::cli {

namespace {

int show_pod_check(const Result<check::CheckReport>& report, std::ostream& out, bool json, bool color) {
  if (!report) throw UserError(report.error().to_string());
  if (json) {
    out << json_text(output::check_to_json(*report), 2) << "\n";
  } else {
    out << output::render_check(*report, color);
  }
  return report->verdict.reachable ? kExitOk : kExitNegative;
}

}  // namespace

void check_flag_ranges(int port, int count, int connections, double interval_s, double timeout_s, int size,
                       double duration_s) {
  const auto in = [](double v, double lo, double hi) { return v >= lo && v <= hi; };
  if (port < 0 || port > 65535) throw UserError(fmt::format("--port must be 1-65535 (got {})", port));
  if (!in(count, 1, 100)) throw UserError(fmt::format("--count must be 1-100 (got {})", count));
  if (!in(connections, 1, 100))
    throw UserError(fmt::format("--connections must be 1-100 (got {})", connections));
  if (!in(interval_s, 0.01, 10))
    throw UserError(fmt::format("--interval must be 0.01-10 s (got {})", interval_s));
  if (!in(timeout_s, 0.1, 60)) throw UserError(fmt::format("--timeout must be 0.1-60 s (got {})", timeout_s));
  if (size != 0 && !in(size, 48, 9000))
    throw UserError(fmt::format("--size must be 48-9000 bytes (got {})", size));
  if (!in(duration_s, 0.5, 86400))
    throw UserError(fmt::format("--duration must be 0.5-86400 s (got {})", duration_s));
}

int run_pod_check(check::Checker& checker, const check::CheckRequest& request, std::ostream& out, bool json,
                  bool color) {
  return show_pod_check(checker.run(request), out, json, color);
}

int run_cluster_pod_check(const cluster::ClusterViewOptions& view, const check::CheckRequest& request,
                          bool passive, const std::string& format, Io& io) {
  if (passive) throw UserError("--passive watches a local session: it does not take --cluster");
  const check::CheckRequest fixed;
  if (request.count != fixed.count || request.interval != fixed.interval ||
      request.timeout != fixed.timeout || request.size != 0) {
    throw UserError(
        "with --cluster the agent sends its own probes (3, 200 ms apart, 2 s timeout each): --count, "
        "--interval, --timeout and --size do not apply");
  }
  if (request.proto != check::Protocol::Icmp && request.port == 0)
    throw UserError(fmt::format("--proto {} needs --port", check::to_string(request.proto)));
  if (request.proto == check::Protocol::Icmp && request.port != 0)
    throw UserError("--port is only used with --proto tcp or udp");
  const cluster::ClusterCheckRequest r{request.src, request.dst, request.proto, request.port};
  const bool json = format == "json";
  const int rc =
      show_pod_check(cluster::run_cluster_check(view, r), io.out, json, !json && output::use_color(io.out));
  io.out.flush();
  return rc;
}

int run_service_check(check::Checker& checker, const check::ServiceCheckRequest& request, std::ostream& out,
                      bool json, bool color) {
  auto report = checker.run_service(request);
  if (!report) throw UserError(report.error().to_string());
  if (json) {
    out << json_text(output::service_check_to_json(*report), 2) << "\n";
  } else {
    out << output::render_service_check(*report, color);
  }
  return report->verdict.reachable ? kExitOk : kExitNegative;
}

int run_passive_check(check::Checker& checker, const check::PassiveRequest& request,
                      const std::atomic<bool>& stop, std::ostream& out, bool json, bool color) {
  auto report = checker.observe(request, stop);
  if (!report) throw UserError(report.error().to_string());
  if (json) {
    out << json_text(output::passive_to_json(*report), 2) << "\n";
  } else {
    out << output::render_passive(*report, color);
  }
  return report->problems.empty() ? kExitOk : kExitNegative;
}

}  // namespace podpath::cli

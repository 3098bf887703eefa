#include "cli/check_run.hpp"

#include "cli/command.hpp"
#include "output/check_view.hpp"
#include "output/service_check_view.hpp"
#include "util/text.hpp"

namespace podpath::cli {

int run_pod_check(check::Checker& checker, const check::CheckRequest& request, std::ostream& out, bool json,
                  bool color) {
  auto report = checker.run(request);
  if (!report) throw UserError(report.error().to_string());
  if (json) {
    out << json_text(output::check_to_json(*report), 2) << "\n";
  } else {
    out << output::render_check(*report, color);
  }
  return report->verdict.reachable ? kExitOk : kExitNegative;
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

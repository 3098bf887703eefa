#pragma once
/// @file
/// @brief `podpath check`'s three forms on a started checker, each rendered as a table or
/// JSON: probes to a pod (or address), connections to a Service, passive mode. Each returns
/// the exit code (kExitOk / kExitNegative) and throws UserError when it cannot run.

#include <atomic>
#include <ostream>

#include "check/checker.hpp"

namespace podpath::cli {

int run_pod_check(check::Checker& checker, const check::CheckRequest& request, std::ostream& out, bool json,
                  bool color);
int run_service_check(check::Checker& checker, const check::ServiceCheckRequest& request, std::ostream& out,
                      bool json, bool color);
int run_passive_check(check::Checker& checker, const check::PassiveRequest& request,
                      const std::atomic<bool>& stop, std::ostream& out, bool json, bool color);

}  // namespace podpath::cli

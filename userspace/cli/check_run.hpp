#pragma once
/// @file
/// @brief `podpath check`'s three forms on a started checker, each rendered as a table or
/// JSON: probes to a pod (or address), connections to a Service, passive mode. Each returns
/// the exit code (kExitOk / kExitNegative) and throws UserError when it cannot run.

#include <atomic>
#include <ostream>

#include "check/checker.hpp"
#include "cli/command.hpp"
#include "cluster/view.hpp"

namespace podpath::cli {

int run_pod_check(check::Checker& checker, const check::CheckRequest& request, std::ostream& out, bool json,
                  bool color);
int run_service_check(check::Checker& checker, const check::ServiceCheckRequest& request, std::ostream& out,
                      bool json, bool color);
/// @brief `check SRC DST --cluster`: the agents check (cluster/check.hpp), rendered as lab-mode
/// check renders (`format` "table" or "json"). The agent's probes are fixed (3, 200 ms apart,
/// 2 s timeout, the large-packet probe after an answer): flags that change them and --passive
/// are refused in one line.
int run_cluster_pod_check(const cluster::ClusterViewOptions& view, const check::CheckRequest& request,
                          bool passive, const std::string& format, Io& io);
/// @brief The numeric flags of `check` each in its range; UserError naming the one that is not.
void check_flag_ranges(int port, int count, int connections, double interval_s, double timeout_s, int size,
                       double duration_s);
int run_passive_check(check::Checker& checker, const check::PassiveRequest& request,
                      const std::atomic<bool>& stop, std::ostream& out, bool json, bool color);

}  // namespace podpath::cli

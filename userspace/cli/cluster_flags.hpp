#pragma once
/// @file
/// @brief `--cluster` for trace, paths and matrix: the agents to read (found through
/// --agents, a lab's agents or the Kubernetes API), their TLS and auth, and the commands'
/// cluster runs (cli/cluster_commands.cpp).

#include <cstdint>
#include <string>
#include <vector>

#include "cli/command.hpp"
#include "cli/live.hpp"
#include "cluster/view.hpp"
#include "output/filter.hpp"
#include "output/flow_table.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace podpath::cli {

/// @brief The cluster flags.
struct ClusterViewFlags {
  bool enabled = false;  ///< --cluster
  std::string agents;    ///< --agents URL,...
  std::string ca;
  std::string client_cert;
  std::string client_key;
  std::string token_file;
  std::string agent_namespace = "podpath";
  std::string agent_selector = "app.kubernetes.io/name=podpath";
  std::uint16_t agent_port = 9990;
  CLI::Option* shared_token = nullptr;  ///< the command's own --token-file, when it had one

  /// @brief Adds the flags; a `--token-file` the command already has (trace's --web) is shared.
  void add_to(CLI::App& sub);
  /// @brief Finds the agents: --agents, else the agents of --lab (or the only lab up), else the
  /// DaemonSet's pods through the Kubernetes API; names from --lab / --inventory /
  /// --kubeconfig when given. Throws UserError with one sentence.
  [[nodiscard]] cluster::ClusterViewOptions options(const ClusterFlags& names) const;
};

/// @brief What `trace --cluster` prints and how often.
struct ClusterTraceOptions {
  output::FlowFilter filter;
  bool filtered = false;
  output::TableOptions table;
  bool json = false;
  bool tty = false;
  double interval_s = 1;
  double duration_s = 0;
  bool once = false;
  std::string ready_file;  ///< written once every agent was polled (--ready-file)
};

int run_cluster_trace(const cluster::ClusterViewOptions& view, const ClusterTraceOptions& options, Io& io);
int run_cluster_paths(const cluster::ClusterViewOptions& view, const output::FlowFilter& filter,
                      const std::vector<std::string>& endpoints, double duration_s, bool json,
                      const std::string& ready_file, Io& io);
/// @brief The matrix over `duration_s`: the agents' cumulative CIDR-pair counters at the end
/// minus those at the start (the ready file is written after the first reading).
int run_cluster_matrix(const cluster::ClusterViewOptions& view, double duration_s, bool json,
                       const std::string& ready_file, Io& io);

}  // namespace podpath::cli

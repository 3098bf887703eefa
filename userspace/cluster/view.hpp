#pragma once
/// @file
/// @brief The cluster view: polls every agent, joins their halves (cluster/merge.hpp) and
/// hands the result to the same selection, path composer and renderer as `podpath trace`,
/// with the hops of a node whose agent does not answer shown as unknown.

#include <chrono>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/datapath.hpp"
#include "cluster/agent_client.hpp"
#include "cluster/merge.hpp"
#include "inventory/cidrs.hpp"
#include "inventory/resolver.hpp"
#include "inventory/source.hpp"
#include "output/filter.hpp"
#include "output/flow_table.hpp"
#include "output/flow_view.hpp"
#include "util/result.hpp"

namespace podpath::cluster {

/// @brief What the view is built from.
struct ClusterViewOptions {
  std::vector<AgentEndpoint> agents;
  AgentAuth auth;
  /// @brief Where names, the gateway and the underlay come from (--lab, --inventory,
  /// --kubeconfig); nullopt: from the agents alone.
  std::optional<inventory::ClusterSourceOptions> source;
  /// @brief Also read every agent's /v1/drops at each refresh (the map's drops).
  bool drops = false;
  AgentTransportFactory transport = curl_agent_transport;
};

/// @brief Every agent, polled at refresh().
class ClusterView {
 public:
  /// @brief Loads the cluster's names (when a source is given) and polls every agent once.
  static Result<std::unique_ptr<ClusterView>> open(ClusterViewOptions options);

  /// @brief Polls the agents (each unless it waits out its backoff) and joins them;
  /// `metrics` also reads /metrics (the matrix).
  void refresh(bool metrics = false);

  /// @brief The conversations to show, as trace selects them, with unknown nodes marked.
  [[nodiscard]] output::SelectedViews select(const output::FlowFilter& filter, output::SortKey sort,
                                             std::size_t limit) const;

  /// @brief "3 agents (node1, node2 unreachable since 03:10:11, ...) · names from lab pp"
  /// plus "no agent on node3" when a node has none.
  [[nodiscard]] std::string describe() const;
  /// @brief One line per agent that does not answer, and per node without one.
  [[nodiscard]] std::vector<std::string> problems() const;
  /// @brief [{"node","address","state":"reachable"|"unreachable"|"none","since","error"}].
  [[nodiscard]] nlohmann::json agents_json() const;
  /// @brief The `trace --output json` snapshot: {"type":"snapshot","time","cluster","agents",
  /// "conversations","flows"}, its text written without a document (the flows).
  [[nodiscard]] std::string snapshot_text(const output::SelectedViews& views, std::time_t now) const;

  /// @brief The CIDR matrix summed over the agents' /metrics (their cumulative counters).
  [[nodiscard]] std::vector<bpf::MatrixCell> matrix() const;
  [[nodiscard]] const inventory::CidrTable& cidrs() const { return *cidrs_; }
  [[nodiscard]] const model::Cluster& cluster() const { return *cluster_; }
  /// @brief The names, kept alive by the caller (rebuilt at refresh() when they come from the agents).
  [[nodiscard]] model::ClusterSnapshot names() const { return cluster_; }
  /// @brief Resolves addresses against names() (valid until the next refresh()).
  [[nodiscard]] const inventory::Resolver& resolver() const { return *resolver_; }
  [[nodiscard]] const std::vector<AgentState> agents() const;
  [[nodiscard]] const MergedCluster& merged() const { return merged_; }

 private:
  ClusterView() = default;
  Result<void> rebuild_names();

  ClusterViewOptions options_;
  std::vector<std::unique_ptr<AgentClient>> clients_;
  std::optional<inventory::LoadedCluster> loaded_;
  model::ClusterSnapshot cluster_;
  std::unique_ptr<inventory::CidrTable> cidrs_;
  std::unique_ptr<inventory::Resolver> resolver_;
  MergedCluster merged_;
  std::string names_;  ///< where the names come from
};

/// @brief Sums the `podpath_cidr_pair_{packets,bytes}_total` series of Prometheus text into
/// `cells`, CIDRs mapped to `cidrs`' ids ("other" and unknown CIDRs: 0).
void add_metrics_matrix(const std::string& metrics, const inventory::CidrTable& cidrs,
                        std::vector<bpf::MatrixCell>& cells);

/// @brief A cluster made of what the agents say: their nodes and their pods (/v1/node) and the
/// pods their flows name (with the veth /v1/node lists for each), for `--agents` without
/// another source.
model::Cluster cluster_from_agents(const std::vector<AgentState>& agents);

}  // namespace podpath::cluster

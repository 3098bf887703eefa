#pragma once
/// @file
/// @brief A live observation session, shared by trace, paths, matrix and debug dump:
/// the cluster (reloaded when its inventory file changes), the loader, the aggregator,
/// the CIDR table, the resolver and the topology the path composer needs.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bpf/datapath.hpp"
#include "bpf/events.hpp"
#include "flows/aggregator.hpp"
#include "flows/path.hpp"
#include "inventory/cidrs.hpp"
#include "inventory/resolver.hpp"
#include "inventory/source.hpp"
#include "loader/bpf_flow_source.hpp"
#include "loader/container_tracker.hpp"
#include "loader/loader.hpp"

namespace podpath::loader {

/// @brief Everything a live command chooses.
struct SessionOptions {
  inventory::ClusterSourceOptions source;
  std::vector<std::string> nodes;  ///< attach only on these nodes; empty = all
  std::string bridge;              ///< --bridge
  std::string uplink;              ///< --uplink
  std::vector<std::string> extra;  ///< --iface patterns
  LoaderOptions loader;
  flows::AggregatorOptions aggregator;
  inventory::CidrOptions cidrs;
  /// @brief Attribute pod traffic to containers (cgroup_skb, docs/containers.md); when the
  /// machine cannot, the session runs without and says why.
  bool containers = false;
  /// @brief podpath runs inside the namespace of the node it watches (an agent started in
  /// its node's namespace): attach and read routes there without entering it, so no
  /// setns(2) and no CAP_SYS_ADMIN are needed.
  bool in_node_netns = false;
  /// @brief One agent per node (`podpath agent`): every node's pod CIDR counts into the
  /// CIDR matrix where its packets leave their pods, on that node, so traffic between two
  /// nodes' pods is counted once, by the source node's agent. Default: only the watched
  /// nodes' pod CIDRs are counted at the source; traffic from the others where it enters.
  bool matrix_per_node = false;
  /// @brief Checks the loaded cluster before anything is attached (a filter or an endpoint
  /// naming a pod that does not exist): its error is start()'s, and nothing was attached.
  std::function<Result<void>(const model::Cluster&)> check_cluster;
};

/// @brief Loads the cluster, attaches, and refreshes flows on demand.
class Session {
 public:
  /// @brief Fails with one sentence (unknown node, no lab, no privileges, ...).
  static Result<std::unique_ptr<Session>> start(const SessionOptions& options);

  /// @brief Handles link notifications and new-flow events for up to `timeout`,
  /// returning early when `stop` becomes true (checked at least every 100 ms) or, with
  /// `wake_on_new_flow`, soon after a flow podpath had not seen appears. Notices a watched
  /// namespace that is gone (follow_namespaces).
  Result<void> wait(std::chrono::milliseconds timeout, const std::atomic<bool>& stop,
                    bool wake_on_new_flow = false);
  /// @brief New-flow wake-ups received so far (the kernel emits at most one per CPU per
  /// 5 ms, however many flows are new: a change means "something new", not a count).
  [[nodiscard]] std::uint64_t new_flow_events() const { return new_flow_events_; }
  /// @brief Reads the maps: flows (aggregated, with rates), matrix, health counters;
  /// re-reads the nodes' routes and, if its file changed, the inventory.
  Result<flows::UpdateSummary> refresh();
  /// @brief Detaches everything (also done on destruction).
  Result<void> stop();

  /// @brief Follows nodes whose network namespace went away (e.g. `scripts/lab down && up`):
  /// once the inventory names a namespace for such a node again, podpath attaches there
  /// (and says so); until then it waits, saying so once. An error, one sentence, when a
  /// namespace stays gone: `kGoneGrace` after it went, longer while the lab's directory
  /// exists (the lab is being taken down or built).
  Result<void> follow_namespaces();
  /// @brief How long a namespace may stay gone before the session gives up.
  static constexpr std::chrono::seconds kGoneGrace{5};
  /// @brief The longest podpath waits for a lab that is being rebuilt.
  static constexpr std::chrono::seconds kRebuildWait{300};

  /// @brief The cluster as of the last refresh. A refresh may reload it: a reference
  /// taken before one must not be used after it; hold snapshot() instead.
  [[nodiscard]] const model::Cluster& cluster() const { return *cluster_; }
  /// @brief The current cluster, shared: it stays valid and unchanged across refreshes.
  [[nodiscard]] model::ClusterSnapshot snapshot() const { return cluster_; }
  [[nodiscard]] const std::string& cluster_description() const { return loaded_.description; }
  [[nodiscard]] const inventory::CidrTable& cidrs() const { return *cidrs_; }
  [[nodiscard]] const inventory::Resolver& resolver() const { return *resolver_; }
  [[nodiscard]] const flows::Topology& topology() const { return topology_; }
  [[nodiscard]] const flows::Aggregator& aggregator() const { return *aggregator_; }
  [[nodiscard]] const bpf::FlowCounters& counters() const { return counters_; }
  [[nodiscard]] const std::vector<bpf::MatrixCell>& matrix() const { return matrix_; }
  /// @brief The container(s) of `pod` that sent `key` ("app", "app,sidecar"), or "".
  [[nodiscard]] std::string container_of(const model::FlowKey& key, const model::Pod* pod);
  /// @brief Health counters of the container programs (as of the last refresh), when on.
  [[nodiscard]] const std::optional<bpf::CgroupCounters>& container_counters() const {
    return container_counters_;
  }
  /// @brief The container tracker, when attribution is on.
  [[nodiscard]] const ContainerTracker* containers() const { return tracker_.get(); }
  [[nodiscard]] Loader& loader() { return *loader_; }
  [[nodiscard]] const Loader& loader() const { return *loader_; }

 private:
  Session() = default;
  Result<void> rebuild_cluster_views();
  Result<void> reload_inventory_if_changed();
  /// Takes the Kubernetes informers' changes, if any wait, into their indexes (never blocks).
  void take_kube_changes();
  /// At a refresh: the indexes changed since the last one, so the cluster views follow.
  Result<void> apply_kube_changes();
  /// The cluster changed: CIDR table, resolver, the loader's names and CIDRs, topology.
  Result<void> apply_cluster();
  void rebuild_topology();
  /// The nodes whose pod CIDRs count into the matrix at the source (Loader::set_cidrs).
  [[nodiscard]] std::vector<std::string> counted_at_source() const;
  /// Requests to a Service: their matrix counts move from the ClusterIP range to the backend's CIDR.
  void count_backends_in_matrix();

  /// The inventory read again, whatever its modification time says.
  Result<void> reload_inventory();
  [[nodiscard]] bool lab_dir_exists() const;

  SessionOptions options_;
  inventory::LoadedCluster loaded_;  ///< where it came from; its cluster is moved to cluster_
  model::ClusterSnapshot cluster_;
  std::vector<std::string> gone_;  // nodes whose namespace is gone, until re-attached
  std::optional<std::chrono::steady_clock::time_point> gone_since_;
  std::optional<std::chrono::steady_clock::time_point> lab_dir_gone_since_;
  std::filesystem::file_time_type gone_inventory_mtime_{};  // the inventory as it was when they went
  std::chrono::steady_clock::time_point next_namespace_check_{};
  std::optional<std::filesystem::path> inventory_file_;
  std::filesystem::file_time_type inventory_mtime_{};
  bool kube_changed_ = false;  ///< the informers changed pods or nodes since the last refresh
  std::unique_ptr<inventory::CidrTable> cidrs_;
  std::unique_ptr<inventory::Resolver> resolver_;
  std::unique_ptr<Loader> loader_;
  std::unique_ptr<BpfFlowSource> source_;
  std::unique_ptr<flows::Aggregator> aggregator_;
  flows::Topology topology_;
  std::unique_ptr<ContainerTracker> tracker_;
  std::optional<bpf::CgroupCounters> container_counters_;
  std::map<std::string, std::uint64_t> pod_netns_cookies_;  // pod netns name -> cookie
  std::unique_ptr<bpf::EventReader> events_;
  std::uint64_t new_flow_events_ = 0;
  bpf::FlowCounters counters_{};
  std::vector<bpf::MatrixCell> matrix_;
};

}  // namespace podpath::loader

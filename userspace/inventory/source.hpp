#pragma once
/// @file
/// @brief Where a command's cluster inventory comes from, in order: an inventory file or a
/// named lab (or the only lab that is up), the Kubernetes API (--kubeconfig, $KUBECONFIG,
/// in-cluster, ~/.kube/config), local discovery of this node.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <memory>

#include "inventory/kube_source.hpp"
#include "inventory/lab_inventory.hpp"
#include "inventory/local_discovery.hpp"
#include "model/cluster.hpp"
#include "util/result.hpp"

namespace podpath::inventory {

/// @brief The user's choice (--inventory FILE, --lab NAME) and fallbacks.
struct ClusterSourceOptions {
  std::optional<std::filesystem::path> inventory_file;
  std::optional<std::string> lab;
  std::filesystem::path lab_state_dir = std::filesystem::path(kLabStateDir);
  /// @brief With neither a file nor a lab, and no lab up: discover this node.
  bool allow_local_discovery = true;
  /// @brief When local discovery fails (no pod bridge here), return this host as a bare
  /// node (name and namespace only) with the failure as a note, instead of the error.
  bool bare_host_on_discovery_failure = false;
  LocalDiscoveryOptions local;
  /// @brief The Kubernetes API source; `use_kube` false skips it (tests, --inventory).
  KubeSourceOptions kube;
  bool use_kube = true;
};

/// @brief Where the cluster came from.
enum class ClusterOrigin { InventoryFile, Lab, KubernetesApi, LocalDiscovery };

/// @brief "inventory file", "lab", "Kubernetes API", "local discovery".
const char* to_string(ClusterOrigin origin);

/// @brief What was found of each source before choosing: the input of plan_sources().
struct SourceFacts {
  bool inventory_file = false;  ///< --inventory
  bool lab_named = false;       ///< --lab
  /// @brief find_lab_inventory(): ENOENT = no lab up; another error = several labs up, or
  /// the named one is not.
  std::optional<Error> lab_error;
  bool kubeconfig_flag = false;  ///< --kubeconfig
  enum class Kube { Absent, Found, Invalid } kube = Kube::Absent;
  std::string kube_detail;  ///< Found: where ("kubeconfig F"); Invalid/Absent: why, one line
  bool in_cluster = false;  ///< KUBERNETES_SERVICE_HOST is set
  bool allow_local_discovery = true;
};

/// @brief One source and why it is or is not used (podpath doctor prints these).
struct SourceReport {
  ClusterOrigin origin = ClusterOrigin::InventoryFile;
  bool used = false;
  std::string detail;
};

/// @brief The sources to try, in order, and why the others are skipped.
struct SourcePlan {
  std::vector<ClusterOrigin> tries;   ///< the first that loads is used; empty with `error`
  std::vector<SourceReport> skipped;  ///< the sources not tried, each with its reason
  std::optional<Error> error;         ///< no source applies: the line to show
};

/// @brief The source-order decision (pure):
/// 1. --inventory FILE, else --lab NAME: that and nothing else;
/// 2. --kubeconfig FILE: the API and nothing else (it beats a lab that happens to be up);
/// 3. the only lab that is up (several up and none chosen: an error naming them);
/// 4. the API, configured by $KUBECONFIG, in-cluster or ~/.kube/config; a kubeconfig found
///    on the way (not --kubeconfig, not in a pod) that is malformed or whose server fails
///    falls back to local discovery, with a warning;
/// 5. local discovery of this node, when allowed.
SourcePlan plan_sources(const SourceFacts& facts);

/// @brief A loaded cluster.
struct LoadedCluster {
  model::Cluster cluster;
  ClusterOrigin origin = ClusterOrigin::InventoryFile;
  std::string description;         ///< "inventory /x.json", "lab pp (/run/...)", "local discovery of host1"
  std::vector<std::string> notes;  ///< local discovery's notes, how this node was found
  std::vector<SourceReport> sources;  ///< every source: used, or why not
  /// @brief The API source, live (KubernetesApi only): the session keeps it and follows it.
  std::shared_ptr<KubeSource> kube;
};

/// @brief Loads the cluster from the first source of plan_sources() that works.
Result<LoadedCluster> load_cluster(const ClusterSourceOptions& options);

/// @brief Every source, in order: which one load_cluster() uses and why each other one is
/// not (no lab up, no kubeconfig, the API's error with its hint, ...). For podpath doctor.
std::vector<SourceReport> explain_sources(const ClusterSourceOptions& options);

/// @brief The cluster's node names, "node1, node2" ("none" without nodes).
std::string node_names(const model::Cluster& cluster);

/// @brief "unknown node 'node9' (the nodes are: node1, node2)".
std::string unknown_node_message(const model::Cluster& cluster, std::string_view node);

/// @brief The cluster's pods as "ns/a, ns/b, ..." (the first 8, then "..."; "none").
std::string pod_list(const model::Cluster& cluster);

/// @brief "unknown pod 'web' (pods: default/web-7d4b9-x2k4q, default/db-0)".
std::string unknown_pod_message(const model::Cluster& cluster, std::string_view pod);

/// @brief Every pod of the cluster (`all`), or the one `name` names: "namespace/name", or a
/// bare name that one pod has. Errors: no pods, an unknown pod (naming the pods there are),
/// a bare name several namespaces use (naming each).
Result<std::vector<const model::Pod*>> select_pods(const model::Cluster& cluster, std::string_view name,
                                                   bool all);

}  // namespace podpath::inventory

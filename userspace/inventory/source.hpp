#pragma once
/// @file
/// @brief Where a command's cluster inventory comes from: an inventory file, a named
/// lab, the only lab that is up, or (no lab at all) local discovery of this node.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
};

/// @brief Where the cluster came from.
enum class ClusterOrigin { InventoryFile, Lab, LocalDiscovery };

/// @brief A loaded cluster.
struct LoadedCluster {
  model::Cluster cluster;
  ClusterOrigin origin = ClusterOrigin::InventoryFile;
  std::string description;         ///< "inventory /x.json", "lab pp (/run/...)", "local discovery of host1"
  std::vector<std::string> notes;  ///< local discovery's notes
};

/// @brief Loads the cluster: the file if given, else the named lab, else the only lab
/// that is up, else (if allowed) local discovery. Several labs up and none chosen is an
/// error that names them.
Result<LoadedCluster> load_cluster(const ClusterSourceOptions& options);

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

#pragma once
/// @file
/// @brief cgroup v2 id -> container -> pod: from the lab inventory (containers[].cgroup_id)
/// and, on real nodes, from the kubepods cgroup tree (cgroup_path.hpp).

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "inventory/cgroup_path.hpp"
#include "model/cluster.hpp"

namespace podpath::inventory {

/// @brief Who a cgroup belongs to.
struct ContainerRef {
  std::string pod;           ///< "namespace/name"; empty when no pod of the inventory owns it
  std::string pod_uid;       ///< empty when unknown
  std::string container;     ///< the container's name; its short id when the name is unknown
  std::string container_id;  ///< runtime id; may be empty (inventory without ids)
  std::string cgroup_path;   ///< absolute directory, when known
  std::uint64_t cgroup_id = 0;
  bool sandbox = false;  ///< the pod's sandbox (pause) container

  /// @brief "default/web-1/app", or the container alone when the pod is unknown.
  [[nodiscard]] std::string display() const { return pod.empty() ? container : pod + "/" + container; }
  bool operator==(const ContainerRef&) const = default;
};

/// @brief Looks containers up by the cgroup id the BPF programs report.
class ContainerIndex {
 public:
  /// @brief Every container of the inventory that has a cgroup id.
  static ContainerIndex from_cluster(const model::Cluster& cluster);

  /// @brief Adds cgroups found on this machine (discover_kubepods_cgroups), matched to the
  /// cluster's pods by UID, or by sandbox id (host-local IPAM knows sandbox ids, not UIDs),
  /// and to its containers by id. Cgroups nested inside a container's belong to it; pod-level
  /// cgroups and CRI-O's conmon scopes are not containers and are skipped. Ids already
  /// known (from the inventory) are kept as they are.
  void add_discovered(const std::vector<DiscoveredCgroup>& found, const model::Cluster& cluster);

  [[nodiscard]] const ContainerRef* find(std::uint64_t cgroup_id) const;
  /// @brief The containers of one pod ("namespace/name"), sandbox excluded, by name.
  [[nodiscard]] std::vector<const ContainerRef*> containers_of(std::string_view pod) const;
  /// @brief The sandbox (pause) container of a pod, when discovered; nullptr otherwise.
  [[nodiscard]] const ContainerRef* sandbox_of(std::string_view pod) const;
  [[nodiscard]] std::size_t size() const { return by_cgroup_.size(); }

 private:
  std::map<std::uint64_t, ContainerRef> by_cgroup_;
};

}  // namespace podpath::inventory

#pragma once
/// @file
/// @brief Which container a flow belongs to: the container-flow records of cgroup_flow,
/// joined with the container index, as a searchable snapshot. loader/container_tracker.hpp
/// keeps one up to date for long-running commands such as `podpath trace`.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "inventory/container_flow.hpp"
#include "inventory/container_index.hpp"
#include "model/cluster.hpp"
#include "model/flow.hpp"
#include "util/result.hpp"

namespace podpath::inventory {

/// @brief A snapshot of container-flow records, searchable by the container's end of a flow.
class ContainerAttribution {
 public:
  ContainerAttribution() = default;
  ContainerAttribution(const ContainerIndex& index, std::vector<ContainerFlow> records);

  /// @brief Containers whose sockets used (namespace, local address, protocol, local port).
  /// `netns_cookie` 0 matches any namespace, as do records whose namespace is unknown. ICMP:
  /// `local_port` is the echo identifier. Unknown cgroups are returned with only cgroup_id set.
  [[nodiscard]] std::vector<ContainerRef> lookup(std::uint64_t netns_cookie, const model::IpAddress& local,
                                                 std::uint8_t proto, std::uint16_t local_port) const;

  /// @brief The containers behind a flow key as TC sees it at a pod's veth (or anywhere): the
  /// source end first (the container that sent it), else the destination end (the container
  /// it is delivered to). `pod_netns_cookie` narrows the search to the pod's namespace (0 = any).
  [[nodiscard]] std::vector<ContainerRef> for_flow(const model::FlowKey& key,
                                                   std::uint64_t pod_netns_cookie = 0) const;

  /// @brief for_flow() as a column: "app", "app,sidecar", or "" when unknown.
  [[nodiscard]] std::string column(const model::FlowKey& key, std::uint64_t pod_netns_cookie = 0) const;

  [[nodiscard]] const std::vector<ContainerFlow>& records() const { return records_; }

 private:
  std::vector<ContainerFlow> records_;
  std::vector<ContainerRef> refs_;  // parallel to records_
};

/// @brief The cgroup to attach container attribution to: the lab's cgroup_root, else the
/// kubepods cgroup under the cgroup v2 mount (or the mount itself).
Result<std::filesystem::path> default_attach_cgroup(const model::Cluster& cluster);

}  // namespace podpath::inventory

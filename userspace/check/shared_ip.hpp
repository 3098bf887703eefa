#pragma once
/// @file
/// @brief `podpath shared-ip`, live: container attribution attached for the pods to check,
/// a probe from inside each container on request, then every pod judged by
/// inventory::check_shared_ip from what its containers' sockets did.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "inventory/container_index.hpp"
#include "inventory/shared_ip.hpp"
#include "loader/container_tracker.hpp"
#include "model/cluster.hpp"
#include "util/result.hpp"

namespace podpath::check {

/// @brief One container to check, with where to find it.
struct ContainerTarget {
  const model::Pod* pod = nullptr;
  inventory::ContainerRef ref;
  int pid = 0;              ///< a process of the container (root PID namespace); 0 = none found
  std::string probe_error;  ///< why --probe could not run in it; empty if it ran (or was not asked)
};

/// @brief What the check found.
struct SharedIpReport {
  std::vector<inventory::SharedIpResult> results;  ///< one per pod, in the order given
  inventory::Verdict verdict = inventory::Verdict::NoTraffic;
  std::string namespace_mode;  ///< how the programs told namespaces apart ("kern-ctx", ...)
  std::filesystem::path attach_cgroup;
  double duration_s = 0;
};

/// @brief Container attribution attached for the shared-IP check of some pods.
class SharedIpWatch {
 public:
  /// @brief Needs root. Loads the container programs with the best namespace mode this kernel
  /// has, attaches them at `cgroup` (empty: the lab's cgroup root, else the kubepods cgroup)
  /// and finds every container of `pods` and one of its processes. `pods` point into
  /// `cluster`, which the watch shares. Errors are one sentence.
  static Result<std::unique_ptr<SharedIpWatch>> start(model::ClusterSnapshot cluster,
                                                      std::vector<const model::Pod*> pods,
                                                      const std::filesystem::path& cgroup);

  [[nodiscard]] const std::vector<ContainerTarget>& targets() const { return targets_; }
  [[nodiscard]] std::size_t pod_count() const { return pods_.size(); }
  [[nodiscard]] const std::filesystem::path& attach_cgroup() const { return tracker_->attach_cgroup(); }
  /// @brief "helper", "kern-ctx", "sock-cast" or "none".
  [[nodiscard]] std::string namespace_mode() const;

  /// @brief Makes each container open one TCP connection to its pod's IP at `port` from
  /// inside its own cgroup and network namespace. One sentence per container that could not
  /// be probed ("could not probe container app of default/web-1: no running process"); the
  /// report gives the same reason for a container that then stayed silent.
  std::vector<std::string> probe(std::uint16_t port);
  /// @brief Lets the programs count until `deadline` or until `stop` is set.
  void wait_until(std::chrono::steady_clock::time_point deadline, const std::atomic<bool>& stop) const;
  /// @brief Reads what every container did, detaches, and judges each pod (`duration_s` is
  /// reported as given). Losses the kernel counted are logged as warnings.
  Result<SharedIpReport> finish(double duration_s);

 private:
  SharedIpWatch() = default;
  void collect_targets();
  [[nodiscard]] inventory::NetnsLabels netns_labels() const;
  [[nodiscard]] std::uint64_t pod_netns_cookie(const model::Pod& pod) const;
  [[nodiscard]] inventory::SharedIpInput input_for(const model::Pod& pod,
                                                   const std::vector<inventory::ContainerFlow>& records,
                                                   const inventory::NetnsLabels& labels) const;

  model::ClusterSnapshot cluster_;
  std::vector<const model::Pod*> pods_;
  std::unique_ptr<loader::ContainerTracker> tracker_;
  std::vector<ContainerTarget> targets_;
};

}  // namespace podpath::check

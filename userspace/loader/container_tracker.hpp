#pragma once
/// @file
/// @brief Live container attribution for long-running commands (`podpath trace`): loads
/// cgroup_flow with the best namespace mode this kernel has, attaches it at the cluster's
/// container cgroups, and turns its map into an inventory::ContainerAttribution on refresh().

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bpf/cgroup_datapath.hpp"
#include "inventory/container_attribution.hpp"
#include "inventory/container_flow.hpp"
#include "inventory/container_index.hpp"
#include "model/cluster.hpp"
#include "util/result.hpp"

namespace podpath::loader {

/// @brief The plain form of a container-flows entry.
inventory::ContainerFlow to_container_flow(const bpf::CgroupFlowRecord& record);

class ContainerTracker {
 public:
  struct Options {
    std::filesystem::path attach_cgroup;    ///< empty: inventory::default_attach_cgroup()
    std::chrono::seconds idle_expiry{120};  ///< entries idle this long are deleted on refresh
    bpf::CgroupAttachMode attach_mode = bpf::CgroupAttachMode::Link;
    std::uint32_t max_entries = 65536;
  };

  /// @brief Probes, loads and attaches; the tracker shares the cluster snapshot. Errors are
  /// one sentence (not root, no cgroup v2, no cgroup_skb, an exclusive program in the way).
  static Result<std::unique_ptr<ContainerTracker>> start(model::ClusterSnapshot cluster,
                                                         const Options& options);
  static Result<std::unique_ptr<ContainerTracker>> start(model::ClusterSnapshot cluster) {
    return start(std::move(cluster), Options{});
  }
  /// @brief The inventory was reloaded: names containers from the new snapshot.
  void set_cluster(model::ClusterSnapshot cluster);

  /// @brief Reads the map, deletes entries idle longer than the expiry, re-discovers the
  /// cgroup tree when an unknown cgroup id shows up (real nodes), rebuilds the attribution.
  Result<void> refresh();
  ~ContainerTracker();
  ContainerTracker(const ContainerTracker&) = delete;
  ContainerTracker& operator=(const ContainerTracker&) = delete;

  /// @brief Detaches the programs now (also done on destruction); the map stays readable.
  Result<void> detach();

  [[nodiscard]] const inventory::ContainerAttribution& attribution() const { return attribution_; }
  [[nodiscard]] const inventory::ContainerIndex& index() const { return index_; }
  [[nodiscard]] bpf::CgroupDatapath& datapath() { return *datapath_; }
  [[nodiscard]] const std::filesystem::path& attach_cgroup() const { return attachment_->cgroup(); }
  [[nodiscard]] bpf::CgroupNetnsMode netns_mode() const { return datapath_->options().netns_mode; }
  /// @brief What this kernel cannot show (one sentence each), for the log.
  [[nodiscard]] const std::vector<std::string>& notes() const { return notes_; }

 private:
  ContainerTracker() = default;

  model::ClusterSnapshot cluster_;
  Options options_;
  std::string cgroup2_mount_;
  inventory::ContainerIndex index_;
  inventory::ContainerAttribution attribution_;
  std::unique_ptr<bpf::CgroupDatapath> datapath_;
  std::unique_ptr<bpf::CgroupAttachment> attachment_;
  std::uint64_t record_ = 0;  // journal record of a Legacy attachment (loader/journal.hpp)
  std::vector<std::string> notes_;
  std::chrono::steady_clock::time_point last_discovery_{};
};

}  // namespace podpath::loader

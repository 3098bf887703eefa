#pragma once
/// @file
/// @brief Which pod and container a cgroup v2 directory belongs to, read from its path as
/// the kubelet lays it out: the cgroupfs driver (`/kubepods/burstable/pod<uid>/<id>`) and
/// the systemd driver (`/kubepods.slice/kubepods-burstable.slice/
/// kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope`), with the
/// id forms of containerd (`cri-containerd-<id>`), CRI-O (`crio-<id>`) and Docker
/// (`docker-<id>`), under any prefix (a nested kubelet, the lab's `podpath-lab.<name>`).

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace podpath::inventory {

enum class CgroupDriver { Cgroupfs, Systemd };
enum class PodQos { Guaranteed, Burstable, BestEffort };
/// @brief The runtime, as far as the cgroup name tells (cgroupfs names are the bare id).
enum class ContainerRuntime { Unknown, Containerd, Crio, Docker };

const char* to_string(CgroupDriver driver);
const char* to_string(PodQos qos);
const char* to_string(ContainerRuntime runtime);

/// @brief A cgroup of the kubepods hierarchy: a pod's, or a container's inside it.
struct KubepodsCgroup {
  CgroupDriver driver = CgroupDriver::Cgroupfs;
  PodQos qos = PodQos::Guaranteed;
  std::string pod_uid;       ///< as in metadata.uid (dashes, also for the systemd driver)
  std::string container_id;  ///< empty for the pod-level cgroup
  ContainerRuntime runtime = ContainerRuntime::Unknown;
  bool runtime_monitor = false;  ///< crio-conmon-<id>.scope: CRI-O's monitor process, not the container
  std::string prefix;            ///< what precedes the kubepods component ("" or e.g. "/kubelet.slice")
  std::string subpath;           ///< below the container's cgroup (nested cgroups), "" if none

  [[nodiscard]] bool is_container() const { return !container_id.empty(); }
  bool operator==(const KubepodsCgroup&) const = default;
};

/// @brief Parses a cgroup path, absolute (`/sys/fs/cgroup/...`) or relative to the cgroup v2
/// mount (`/kubepods/...`, as /proc/PID/cgroup prints it). The error says why the path is
/// not a kubepods pod or container cgroup.
Result<KubepodsCgroup> parse_kubepods_cgroup(std::string_view path);

/// @brief The first 12 characters of a container id, as `crictl ps` shows it.
std::string short_container_id(std::string_view id);

/// @brief The cgroup v2 id of a cgroup directory: its inode number, the id the BPF programs
/// report (bpf_skb_cgroup_id). An error when it is no directory.
Result<std::uint64_t> cgroup_id_of(const std::filesystem::path& cgroup);

/// @brief A kubepods cgroup found on this machine.
struct DiscoveredCgroup {
  std::filesystem::path path;   ///< absolute directory
  std::uint64_t cgroup_id = 0;  ///< inode number = the cgroup v2 id BPF programs report
  KubepodsCgroup parsed;
};

/// @brief Walks the cgroup v2 tree under `root` (usually the mount point) and returns every
/// pod and container cgroup of the kubepods hierarchy. Unreadable directories are skipped.
std::vector<DiscoveredCgroup> discover_kubepods_cgroups(const std::filesystem::path& root);

/// @brief The cgroup to attach container attribution to on a node: `<root>/kubepods.slice` or
/// `<root>/kubepods` when present (only pods' sockets are counted), else `root` itself.
std::filesystem::path kubepods_attach_point(const std::filesystem::path& root);

}  // namespace podpath::inventory

#pragma once
/// @file
/// @brief The processes behind containers, from /proc and the cgroup v2 tree: which one is
/// a container's, whether it still runs there, and where its network namespace is.

#include <filesystem>
#include <string>

#include "model/cluster.hpp"

namespace podpath::inventory {

/// @brief The first process of a cgroup (or of a cgroup nested in it); 0 when none runs.
int first_pid_of(const std::filesystem::path& cgroup);

/// @brief True when process `pid` runs in the cgroup directory `cgroup_path` (its
/// /proc/PID/cgroup line "0::/rel" names the end of that path).
bool process_in_cgroup(int pid, const std::string& cgroup_path);

/// @brief A container of the inventory is running: its cgroup holds a process, or (without a
/// cgroup) its main process exists.
bool container_running(const model::Container& container);

/// @brief A container counts as ready (READY of podpath pods, like kubectl's): the readiness
/// the Kubernetes API reports where there is one, else whether it is running here.
bool container_ready(const model::Container& container);

/// @brief The network namespace file of a process: "/proc/PID/ns/net".
std::string process_netns_path(int pid);

}  // namespace podpath::inventory

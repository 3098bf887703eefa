#pragma once
/// @file
/// @brief Facts about the running system: mounts, privileges, kernel release.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "util/files.hpp"  // read_file, write_file_atomically: most users of this header read files
#include "util/result.hpp"

namespace podpath {

/// @brief The first mount point of filesystem type `fstype` in a /proc/self/mounts-style
/// text (e.g. "cgroup2" -> /sys/fs/cgroup/unified on a hybrid layout).
std::optional<std::filesystem::path> find_mount(std::string_view mounts_text, std::string_view fstype);
/// @brief Same, reading /proc/self/mounts.
std::optional<std::filesystem::path> find_mount(std::string_view fstype);

/// @brief True when the effective capability set holds `cap` (CAP_* number).
bool has_capability(int cap);
/// @brief CLOCK_MONOTONIC in ns: the clock BPF programs stamp packets with.
std::uint64_t monotonic_ns();
/// @brief CLOCK_REALTIME in ns since the epoch.
std::int64_t realtime_ns();
/// @brief `uname -r`.
std::string kernel_release();

}  // namespace podpath

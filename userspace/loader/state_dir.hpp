#pragma once
/// @file
/// @brief podpath's run-time state on a node: /run/podpath holds the locks of classic TC
/// slots (tc-<priority>.lock) and, in runs/, the journal of each live run (what it attached
/// that would outlive it). Everything there is opened without following symlinks and
/// checked to be podpath's own, so that no other user can point podpath at another file.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "util/fd.hpp"
#include "util/result.hpp"

namespace podpath::loader {

/// @brief Where podpath keeps its state.
inline constexpr const char* kRunDir = "/run/podpath";
/// @brief The journals of runs, under the state directory.
inline constexpr const char* kRunsSubdir = "runs";

/// @brief Opens directory `path` (relative to `parent_fd`, or absolute), creating it with
/// `mode` if missing. Refuses a symbolic link, anything but a directory, a directory owned
/// by another user than podpath's, and one that others may write to.
Result<Fd> open_state_dir(int parent_fd, const std::string& path, mode_t mode);

/// @brief Opens `name` inside directory `dir_fd` with `flags` (O_NOFOLLOW and O_CLOEXEC
/// added; with O_CREAT it is created with `mode`). Refuses a symbolic link, anything but a
/// regular file, a file of another user and a file with more than one name (hard links).
Result<Fd> open_state_file(int dir_fd, const std::string& name, int flags, mode_t mode = 0600);

/// @brief The whole content of an open state file (at most `limit` bytes), from its start.
std::optional<std::string> read_state_file(int fd, std::size_t limit = 1 << 20);

}  // namespace podpath::loader

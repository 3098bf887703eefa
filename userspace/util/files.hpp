#pragma once
/// @file
/// @brief Reading and writing files that someone else may control: bounded reads that
/// never block on a FIFO or a device, and atomic writes that never follow a planted
/// symlink nor replace anything but a regular file.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace podpath {

/// @brief The default cap of a whole-file read (/proc/kallsyms is ~6 MiB on a distribution
/// kernel, a kubeconfig a few KiB).
inline constexpr std::size_t kMaxFileRead = std::size_t{64} << 20;

/// @brief Reads a whole regular file (/proc and sysfs files included) of at most
/// `max_bytes`. Anything else is refused without being opened for long: a FIFO (it would
/// block), a device (/dev/zero never ends), a directory, a file over the limit. The error
/// names the file and the reason: "cannot read WHAT PATH: ...", where `what` says what the
/// file is to the user (e.g. "inventory"; empty: the path alone).
Result<std::string> read_regular_file(const std::filesystem::path& path, std::size_t max_bytes = kMaxFileRead,
                                      std::string_view what = {});

/// @brief read_regular_file(), for callers that only need to know whether it worked.
std::optional<std::string> read_file(const std::filesystem::path& path, std::size_t max_bytes = kMaxFileRead);

/// @brief Writes `content` to `path` atomically: a new temporary file beside it (created
/// with O_EXCL, so never through a symlink someone placed there), then a rename, so that
/// readers see the old file or the new one, never a part. Refuses to replace anything but a
/// regular file or a symlink (rename would replace a device node or a FIFO itself). Every
/// write error is reported (a full disk), and the temporary file is removed on failure.
Result<void> write_file_atomically(const std::filesystem::path& path, std::string_view content);

/// @brief Visits every directory below `root` (not `root` itself), parents before children,
/// never following a symlink. `visit` returns false to skip what is below that directory.
/// A directory that vanishes or cannot be read during the walk is skipped, and the walk goes
/// on with the next entry: trees such as the cgroup hierarchy change under a running walk
/// (std::filesystem::recursive_directory_iterator ends the whole walk at the first ENOENT).
void walk_directories(const std::filesystem::path& root,
                      const std::function<bool(const std::filesystem::path&)>& visit);

}  // namespace podpath

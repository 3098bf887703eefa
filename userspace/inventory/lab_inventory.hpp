#pragma once
/// @file
/// @brief The lab inventory file (docs/inventory.md): read, write, find.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "model/cluster.hpp"
#include "util/result.hpp"

namespace podpath::inventory {

inline constexpr int kLabInventoryVersion = 1;
/// @brief The largest inventory file podpath reads: a lab of 8 nodes x 16 pods is ~100 KiB.
inline constexpr std::size_t kMaxInventoryBytes = std::size_t{16} << 20;
/// @brief Where `scripts/lab` keeps its state: <dir>/<prefix>/inventory.json.
inline constexpr std::string_view kLabStateDir = "/run/podpath-lab";

/// @brief Parses an inventory document; the error names the offending field.
Result<model::Cluster> parse_lab_inventory(std::string_view json_text);
/// @brief Reads and parses an inventory file: a regular file of at most kMaxInventoryBytes
/// (a FIFO or a device such as /dev/zero is refused before it is read).
Result<model::Cluster> read_lab_inventory(const std::filesystem::path& file);
/// @brief Serialises a cluster in the inventory format (version 1), pretty-printed.
std::string to_lab_inventory_json(const model::Cluster& cluster);
/// @brief Writes atomically: a temporary file in the same directory, then rename.
Result<void> write_lab_inventory(const std::filesystem::path& file, const model::Cluster& cluster);

/// @brief A lab's name: 1-64 characters of [A-Za-z0-9_-], starting with a letter or digit
/// (`scripts/lab up --name` accepts a subset). Anything else (a path such as `../../etc`)
/// is no lab.
bool is_lab_name(std::string_view name);

/// @brief The inventory of a running lab: `prefix` if given, else the only lab that is up.
/// An error explains when there is none, or several and no prefix chose one.
Result<std::filesystem::path>
find_lab_inventory(std::optional<std::string> prefix = std::nullopt,
                   const std::filesystem::path& state_dir = std::filesystem::path(kLabStateDir));

}  // namespace podpath::inventory

#pragma once
/// @file
/// @brief Removing what podpath runs that died without cleaning up left in the kernel:
/// classic TC filters (and the clsact qdiscs those runs created, once nothing else uses
/// them) and cgroup programs attached the classic way. Only what a dead run's journal
/// names by program id is touched (loader/journal.hpp); a live run's attachments never are.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "loader/state_dir.hpp"
#include "util/result.hpp"

namespace podpath::loader {

/// @brief What to clean.
struct CleanupOptions {
  bool dry_run = false;  ///< find and report, remove nothing
  bool tc = true;        ///< classic TC filters and qdiscs
  bool cgroups = true;   ///< cgroup programs attached the classic way
  /// @brief The classic TC priority whose lock the caller holds (a clsact run starting):
  /// only filters at that priority are cleaned. Unset (`podpath cleanup`): each priority's
  /// lock is taken for the moment, and a priority a live run holds is left alone.
  std::optional<std::uint16_t> held_priority;
  std::filesystem::path dir = kRunDir;
};

/// @brief What was found, one sentence per line.
struct CleanupReport {
  std::vector<std::string> removed;  ///< what was removed (dry run: what would be)
  std::vector<std::string> kept;     ///< what was left on purpose, and why
  std::vector<std::string> failed;   ///< what could not be removed, and why
  std::vector<int> live;             ///< pids of live runs (their attachments are theirs)
  int dead_runs = 0;                 ///< journals of runs that are gone
  int finished_runs = 0;             ///< of those, journals removed (everything they named is gone)
};

/// @brief Removes dead runs' leftovers. Errors of one attachment are reported in `failed`
/// and do not stop the others.
CleanupReport clean_leftovers(const CleanupOptions& options);

}  // namespace podpath::loader

#pragma once
/// @file
/// @brief What each podpath command needs from this machine, and what of it is missing
/// (`podpath doctor`).

#include <string>
#include <vector>

#include "bpf/features.hpp"

namespace podpath::cli {

/// @brief One group of commands with the same needs.
struct CommandReadiness {
  std::string commands;              ///< "trace, paths, matrix, debug dump"
  std::vector<std::string> missing;  ///< one sentence per missing need, naming the capability; empty = ready
};

/// @brief For every command, what blocks it here (pure: from probed features). Entering a
/// lab node's or a pod's network namespace is setns(), which needs CAP_SYS_ADMIN: CAP_BPF,
/// CAP_NET_ADMIN and CAP_PERFMON are not enough.
std::vector<CommandReadiness> command_readiness(const bpf::Features& f);

}  // namespace podpath::cli

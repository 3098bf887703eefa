#pragma once
/// @file
/// @brief Flags and plumbing shared by the live commands (trace, paths, matrix, debug
/// dump): where the cluster comes from, how to attach, which flows to show, and a clean
/// stop on SIGINT, SIGTERM, SIGHUP and SIGQUIT (or when standard output goes away).

#include <array>
#include <atomic>
#include <csignal>
#include <string>
#include <vector>

#include "cli/filter_flags.hpp"
#include "inventory/source.hpp"
#include "loader/session.hpp"
#include "output/filter.hpp"
#include "util/result.hpp"

namespace CLI {
class App;
}

namespace podpath::cli {

/// @brief Where the cluster comes from: --inventory / --lab, --kubeconfig / --pod-grace
/// (the Kubernetes API), and --node for commands that have no --node of their own.
struct ClusterFlags {
  std::string inventory;
  std::string lab;
  std::string kubeconfig;
  double pod_grace_s = 60;
  std::string node;  ///< the node this host is (API source); set by --node where the command has it

  /// @brief `with_node`: also add --node (the command has none of its own).
  void add_to(CLI::App& sub, bool with_node = false);
  /// @brief The source options; `node_hint` (a command's own --node) names this host's node
  /// for the API source, unless --node of these flags did.
  [[nodiscard]] inventory::ClusterSourceOptions source(const std::vector<std::string>& node_hint = {}) const;
};

/// @brief How to attach: interfaces, attach mode, map sizes.
struct AttachFlags {
  ClusterFlags cluster;
  std::string bridge;
  std::string uplink;
  std::vector<std::string> ifaces;
  std::string attach = "auto";
  std::string netns_mode = "auto";
  int tc_priority = 0;  // 0 = default
  std::uint32_t max_flows = 65536;
  double idle_timeout_s = 60;

  /// @brief `with_node`: the command has no --node filter, so --node names this host's node.
  void add_to(CLI::App& sub, bool with_node = false);
  /// @brief Throws UserError on contradictory values. The options carry the stop flag, so
  /// that a signal interrupts attaching. `node_hint`: the command's --node.
  [[nodiscard]] loader::SessionOptions session_options(const std::vector<std::string>& node_hint = {}) const;
};

/// @brief Sets the stop flag on SIGINT, SIGTERM, SIGHUP (the terminal went away) and SIGQUIT
/// while alive (no SA_RESTART, so waits return). Attaching checks the same flag, so a
/// signal during start-up detaches what was attached and ends the command.
class StopOnSignal {
 public:
  /// @brief The signals that stop a live command cleanly.
  static constexpr std::array<int, 4> kSignals{SIGINT, SIGTERM, SIGHUP, SIGQUIT};

  StopOnSignal();
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;
  [[nodiscard]] const std::atomic<bool>& flag() const;

 private:
  std::array<struct sigaction, kSignals.size()> old_{};
};

/// @brief Sets the stop flag as a signal would: standard output could not be written
/// (cli/fd_output.hpp), so a live command ends and detaches.
void request_stop();

/// @brief Starts a session; a failure becomes UserError (one sentence for the user).
std::unique_ptr<loader::Session> start_session(const loader::SessionOptions& options);
std::unique_ptr<loader::Session> start_session(const AttachFlags& flags);

/// @brief Writes "ready DETAIL" (or "ready") to `path`, atomically, once the command is
/// watching: what scripts and tests wait for (--ready-file). Nothing when `path` is empty.
void write_ready_file(const std::string& path, const std::string& detail);

/// @brief -o/--output, table or json; `help` says what the json holds where that matters.
void add_output_option(CLI::App& sub, std::string& format, const std::string& help = "table or json");
/// @brief --ready-file PATH, written by write_ready_file().
void add_ready_file_option(CLI::App& sub, std::string& path);
/// @brief Lets the session count for `seconds` (Ctrl-C ends it early); a read failure
/// becomes UserError.
void observe_for(loader::Session& session, double seconds, const StopOnSignal& stop);

}  // namespace podpath::cli

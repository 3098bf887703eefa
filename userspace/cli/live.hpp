#pragma once
/// @file
/// @brief Flags and plumbing shared by the live commands (trace, paths, matrix, debug
/// dump): where the cluster comes from, how to attach, which flows to show, and a clean
/// stop on SIGINT/SIGTERM.

#include <atomic>
#include <csignal>
#include <string>
#include <vector>

#include "inventory/source.hpp"
#include "loader/session.hpp"
#include "output/filter.hpp"

namespace CLI {
class App;
}

namespace podpath::cli {

/// @brief --inventory / --lab.
struct ClusterFlags {
  std::string inventory;
  std::string lab;

  void add_to(CLI::App& sub);
  [[nodiscard]] inventory::ClusterSourceOptions source() const;
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

  void add_to(CLI::App& sub);
  /// @brief Throws UserError on contradictory values.
  [[nodiscard]] loader::SessionOptions session_options() const;
};

/// @brief --pod, --namespace, --node, --cidr, --proto, --port.
struct FilterFlags {
  std::vector<std::string> pods;
  std::vector<std::string> namespaces;
  std::vector<std::string> nodes;
  std::vector<std::string> cidrs;
  std::vector<std::string> protos;
  std::vector<std::uint16_t> ports;
  bool control = false;

  void add_to(CLI::App& sub);
  /// @brief Throws UserError naming a bad CIDR or protocol.
  [[nodiscard]] output::FlowFilter filter() const;
};

/// @brief Sets a flag on SIGINT/SIGTERM while alive (no SA_RESTART, so waits return).
class StopOnSignal {
 public:
  StopOnSignal();
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;
  [[nodiscard]] const std::atomic<bool>& flag() const;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

/// @brief Sets a flag on SIGHUP while alive: `podpath agent` reloads its certificates and
/// token then. Also ignores SIGPIPE, so that a client closing its connection while the
/// agent writes (OpenSSL writes without MSG_NOSIGNAL) costs a failed write, not the process.
class ReloadOnSignal {
 public:
  ReloadOnSignal();
  ~ReloadOnSignal();
  ReloadOnSignal(const ReloadOnSignal&) = delete;
  ReloadOnSignal& operator=(const ReloadOnSignal&) = delete;
  [[nodiscard]] std::atomic<bool>& flag();

 private:
  struct sigaction old_hup_ {};
  struct sigaction old_pipe_ {};
};

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

#pragma once
/// @file
/// @brief What every subcommand implements, and what it is given to run.

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace podpath::cli {

/// @brief Exit codes, the same for every command.
enum ExitCode : int {
  kExitOk = 0,
  kExitNegative = 1,  ///< the command ran and its answer is "no" (check FAIL, unreachable)
  kExitError = 2,     ///< bad usage, bad input, or the command could not run
};

/// @brief Where a command writes: stdout and stderr in main, string streams in tests.
struct Io {
  std::ostream& out;
  std::ostream& err;
};

/// @brief A subcommand. `add_to` declares its options on the parent (binding them to
/// members); `run` is called only for the one the user chose.
class Command {
 public:
  virtual ~Command() = default;
  /// @brief Registers the subcommand and its options; returns the CLI11 subcommand.
  virtual CLI::App* add_to(CLI::App& parent) = 0;
  /// @brief Runs after a successful parse; returns an ExitCode.
  virtual int run(Io& io) = 0;
};

std::unique_ptr<Command> make_doctor_command();
std::unique_ptr<Command> make_trace_command();
std::unique_ptr<Command> make_paths_command();
std::unique_ptr<Command> make_matrix_command();
std::unique_ptr<Command> make_debug_command();
std::unique_ptr<Command> make_pods_command();
std::unique_ptr<Command> make_routes_command();
std::unique_ptr<Command> make_shared_ip_command();
std::unique_ptr<Command> make_check_command();
std::unique_ptr<Command> make_cleanup_command();
std::unique_ptr<Command> make_agent_command();

/// @brief Every subcommand, in the order `--help` lists them (cli/registry.cpp).
std::vector<std::unique_ptr<Command>> all_commands();

}  // namespace podpath::cli

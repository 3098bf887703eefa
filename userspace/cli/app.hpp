#pragma once
/// @file
/// @brief The podpath command line: global options, subcommands, logging set-up.

#include <string>
#include <vector>

#include "cli/command.hpp"

namespace podpath::cli {

/// @brief Options every subcommand shares.
struct GlobalOptions {
  int verbose = 0;                 ///< -v: debug, -vv: trace (overrides --log-level)
  std::string log_level = "info";  ///< trace, debug, info, warn, error, off
};

/// @brief Parses `args` (without the program name), configures logging and runs the
/// chosen subcommand. Returns the process exit code; never throws.
int run(const std::vector<std::string>& args, Io io);

/// @brief main(): runs `args` with podpath's standard output (cli/fd_output.hpp) and SIGPIPE
/// ignored. A write error on stdout exits non-zero with a message; a closed pipe is a clean
/// stop (the command detaches and exits as if stopped).
int run_main(const std::vector<std::string>& args);

/// @brief The spdlog level for the global options (verbosity wins over --log-level).
std::string effective_log_level(const GlobalOptions& options);

}  // namespace podpath::cli

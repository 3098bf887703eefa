// The list of subcommands; one line per command, each defined in its own file.
#include "cli/command.hpp"

namespace podpath::cli {

std::vector<std::unique_ptr<Command>> all_commands() {
  std::vector<std::unique_ptr<Command>> commands;
  commands.push_back(make_trace_command());
  commands.push_back(make_paths_command());
  commands.push_back(make_check_command());
  commands.push_back(make_shared_ip_command());
  commands.push_back(make_matrix_command());
  commands.push_back(make_routes_command());
  commands.push_back(make_agent_command());
  commands.push_back(make_pods_command());
  commands.push_back(make_doctor_command());
  commands.push_back(make_cleanup_command());
  commands.push_back(make_debug_command());
  return commands;
}

}  // namespace podpath::cli

#include "inventory/processes.hpp"

#include <fstream>
#include <system_error>

#include "util/files.hpp"
#include "util/system.hpp"

namespace podpath::inventory {
namespace {

namespace fs = std::filesystem;

/// The first PID listed in a cgroup's cgroup.procs; 0 when it lists none.
int first_listed_pid(const fs::path& cgroup) {
  std::ifstream in(cgroup / "cgroup.procs");
  int pid = 0;
  return in && in >> pid && pid > 0 ? pid : 0;
}

}  // namespace

int first_pid_of(const fs::path& cgroup) {
  if (const int pid = first_listed_pid(cgroup); pid > 0) return pid;
  int found = 0;
  walk_directories(cgroup, [&](const fs::path& dir) {
    if (found == 0) found = first_listed_pid(dir);
    return found == 0;
  });
  return found;
}

bool process_in_cgroup(int pid, const std::string& cgroup_path) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) {
      const std::string rel = line.substr(3);
      return cgroup_path.size() >= rel.size() &&
             cgroup_path.compare(cgroup_path.size() - rel.size(), rel.size(), rel) == 0;
    }
  }
  return false;
}

bool container_running(const model::Container& c) {
  if (!c.cgroup_path.empty()) {
    const auto procs = read_file(fs::path(c.cgroup_path) / "cgroup.procs");
    return procs && procs->find_first_not_of(" \n") != std::string::npos;
  }
  return c.pid > 0 && fs::exists("/proc/" + std::to_string(c.pid));
}

bool container_ready(const model::Container& c) { return c.ready ? *c.ready : container_running(c); }

std::string process_netns_path(int pid) { return "/proc/" + std::to_string(pid) + "/ns/net"; }

}  // namespace podpath::inventory

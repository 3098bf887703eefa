#pragma once
/// @file
/// @brief A probe from inside a container: a child process joins the container's cgroup and
/// network namespace (what `scripts/lab exec` does) and opens one TCP connection, so that the
/// container's own socket sends a SYN that container attribution can count.

#include <cstdint>
#include <string>

#include "model/address.hpp"
#include "util/result.hpp"

namespace podpath::check {

/// @brief Where the probe runs: the container's cgroup directory and one of its processes
/// (root PID namespace), whose network namespace it enters.
struct ContainerPlace {
  std::string cgroup_path;
  int pid = 0;
};

/// @brief Connects to `to`:`port` from inside the container and waits up to two seconds.
/// Refused or unanswered are fine: the SYN left the container either way. The process is
/// verified before its namespace is used: pinned with a pidfd, in `cgroup_path`, alive once
/// its namespace is open (a PID chosen earlier may belong to someone else by now; another
/// of the cgroup's processes is taken then). The probe process never hangs podpath: a
/// frozen cgroup is refused, and a probe that does not end within five seconds is killed.
/// Errors say which step failed and, for a privilege, which capability is missing.
Result<void> probe_from_container(const ContainerPlace& place, const model::IpAddress& to,
                                  std::uint16_t port);

}  // namespace podpath::check

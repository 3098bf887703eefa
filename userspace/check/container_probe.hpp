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
/// Refused or unanswered are fine: the SYN left the container either way. Errors say which
/// step failed (no process, joining the cgroup, entering the namespace, connect).
Result<void> probe_from_container(const ContainerPlace& place, const model::IpAddress& to,
                                  std::uint16_t port);

}  // namespace podpath::check

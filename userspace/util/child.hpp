#pragma once
/// @file
/// @brief Waiting for a child process that may never end by itself (it sits in a cgroup
/// another program can freeze): wait with a deadline, then kill, then give up.

#include <sys/types.h>

#include <chrono>

#include "util/fd.hpp"

namespace podpath {

/// @brief A pidfd for `pid` (pidfd_open(2)): it names that process even after its PID is
/// reused. Invalid, with errno set, when the process is gone (ESRCH) or the kernel has none.
Fd open_pidfd(pid_t pid);

/// @brief True once the process behind `pidfd` has exited, waiting up to `wait` for it.
bool pidfd_exited(int pidfd, std::chrono::milliseconds wait);

/// @brief How a child waited for by wait_child() ended.
enum class ChildEnd {
  Exited,  ///< by itself, before the deadline; `status` is its wait status
  Killed,  ///< not by the deadline: killed, and reaped
  Stuck,   ///< not even after SIGKILL and the grace period; not reaped
};

struct ChildWait {
  ChildEnd end = ChildEnd::Exited;
  int status = 0;  ///< the waitpid(2) status, for Exited and Killed
};

/// @brief Waits for `child` (a child of this process) up to `deadline`; then sends SIGKILL
/// through a pidfd (never to a reused PID) and waits up to `grace` for it to go. Without
/// pidfds (Linux < 5.3) it waits as waitpid does.
ChildWait wait_child(pid_t child, std::chrono::milliseconds deadline, std::chrono::milliseconds grace);

}  // namespace podpath

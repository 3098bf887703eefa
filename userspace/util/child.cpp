#include "util/child.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace podpath {
namespace {

// pidfd_open(2) and pidfd_send_signal(2) by syscall: glibc 2.36's <sys/pidfd.h> declares
// them without extern "C", so C++ cannot link against it.
int kill_by_pidfd(int pidfd) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0));
}

int reap(pid_t child) {
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

}  // namespace

Fd open_pidfd(pid_t pid) { return Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))); }

bool pidfd_exited(int pidfd, std::chrono::milliseconds wait) {
  pollfd p{pidfd, POLLIN, 0};  // a pidfd is readable once its process has exited
  int n = 0;
  while ((n = ::poll(&p, 1, static_cast<int>(wait.count()))) < 0 && errno == EINTR) {
  }
  return n > 0;
}

ChildWait wait_child(pid_t child, std::chrono::milliseconds deadline, std::chrono::milliseconds grace) {
  const Fd pidfd = open_pidfd(child);
  if (!pidfd || pidfd_exited(pidfd.get(), deadline)) return {ChildEnd::Exited, reap(child)};
  (void)kill_by_pidfd(pidfd.get());
  if (!pidfd_exited(pidfd.get(), grace)) return {ChildEnd::Stuck, 0};
  return {ChildEnd::Killed, reap(child)};
}

}  // namespace podpath

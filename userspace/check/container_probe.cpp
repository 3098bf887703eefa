#include "check/container_probe.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "inventory/processes.hpp"

namespace podpath::check {
namespace {

constexpr std::chrono::milliseconds kConnectTimeout{2000};

/// How the child process ends: 0 connected (or refused), the others name the failed step.
enum ChildExit : int {
  kConnected = 0,
  kCannotJoinCgroup = 3,
  kCannotEnterNetns = 4,
  kNoSocket = 5,
  kNoAnswer = 6,  // the SYN was still sent
  kConnectFailed = 7,
  kKilled = 99,  // ended by a signal
};

/// Only syscalls: the child of a possibly multithreaded process.
[[noreturn]] void run_child(const std::string& procs, const std::string& nspath, const sockaddr_storage& to,
                            socklen_t to_len) {
  const int pfd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
  if (pfd < 0 || ::write(pfd, "0\n", 2) != 2) _exit(kCannotJoinCgroup);
  ::close(pfd);
  const int nfd = ::open(nspath.c_str(), O_RDONLY | O_CLOEXEC);
  if (nfd < 0 || ::setns(nfd, CLONE_NEWNET) != 0) _exit(kCannotEnterNetns);
  const int s = ::socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) _exit(kNoSocket);
  if (::connect(s, reinterpret_cast<const sockaddr*>(&to), to_len) != 0 && errno != EINPROGRESS)
    _exit(kConnectFailed);
  pollfd p{s, POLLOUT, 0};
  const int n = ::poll(&p, 1, static_cast<int>(kConnectTimeout.count()));
  ::close(s);
  _exit(n == 0 ? kNoAnswer : kConnected);
}

}  // namespace

Result<void> probe_from_container(const ContainerPlace& place, const model::IpAddress& to,
                                  std::uint16_t port) {
  if (place.pid <= 0) return make_error(ESRCH, "no running process");
  if (place.cgroup_path.empty()) return make_error(ENOENT, "its cgroup is unknown");
  const std::string procs = (std::filesystem::path(place.cgroup_path) / "cgroup.procs").string();
  const std::string nspath = inventory::process_netns_path(place.pid);
  sockaddr_storage ss{};
  socklen_t sslen = 0;
  if (to.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(to.v4_host());
    sslen = sizeof(*sin);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, to.bytes.data(), 16);
    sslen = sizeof(*sin6);
  }
  const pid_t child = fork();
  if (child < 0) return make_error(errno, "fork failed");
  if (child == 0) run_child(procs, nspath, ss, sslen);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : kKilled;
  switch (code) {
  case kConnected:
  case kNoAnswer:
    return {};
  case kCannotJoinCgroup:
    return make_error(0, "cannot join its cgroup {}", place.cgroup_path);
  case kCannotEnterNetns:
    return make_error(0, "cannot enter the network namespace of its process {}", place.pid);
  case kConnectFailed:
    return make_error(0, "connect to {}:{} failed at once (no route from its namespace?)", to.to_string(),
                      port);
  default:
    return make_error(0, "the probe process failed (status {})", code);
  }
}

}  // namespace podpath::check

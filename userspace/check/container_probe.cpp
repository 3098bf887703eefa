#include "check/container_probe.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "inventory/processes.hpp"
#include "util/child.hpp"
#include "util/fd.hpp"
#include "util/files.hpp"

namespace podpath::check {
namespace {

constexpr std::chrono::milliseconds kConnectTimeout{2000};
/// How long the probe process may take in all: its connect, plus time to start. A child in
/// a frozen cgroup never ends by itself; after this it is killed.
constexpr std::chrono::milliseconds kProbeDeadline = kConnectTimeout + std::chrono::milliseconds(3000);
/// After SIGKILL: how long to wait for the child to go.
constexpr std::chrono::milliseconds kKillGrace{2000};
/// Tries at finding a process of the container that stays alive while its namespace is opened.
constexpr int kPidAttempts = 3;

/// The step the child reached, written to the parent through a pipe with its errno.
enum class Step : int { Connected, NoAnswer, JoinCgroup, EnterNetns, Socket, Connect };
struct ChildReport {
  Step step = Step::Connected;
  int err = 0;
};

/// Writes the step the child reached to the parent, and ends the child.
[[noreturn]] void report_and_exit(int report_fd, Step step, int err) {
  const ChildReport r{step, err};
  (void)!::write(report_fd, &r, sizeof(r));
  _exit(0);
}

/// Only syscalls: the child of a possibly multithreaded process. The descriptors were opened
/// by the parent, so the child touches no path another process could swap.
[[noreturn]] void run_child(int procs_fd, int netns_fd, int report_fd, const sockaddr_storage& to,
                            socklen_t to_len) {
  if (::write(procs_fd, "0\n", 2) != 2) report_and_exit(report_fd, Step::JoinCgroup, errno);
  if (::setns(netns_fd, CLONE_NEWNET) != 0) report_and_exit(report_fd, Step::EnterNetns, errno);
  const int s = ::socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) report_and_exit(report_fd, Step::Socket, errno);
  if (::connect(s, reinterpret_cast<const sockaddr*>(&to), to_len) != 0 && errno != EINPROGRESS)
    report_and_exit(report_fd, Step::Connect, errno);
  pollfd p{s, POLLOUT, 0};
  const int n = ::poll(&p, 1, static_cast<int>(kConnectTimeout.count()));
  report_and_exit(report_fd, n == 0 ? Step::NoAnswer : Step::Connected, 0);
}

/// The network namespace of the container's process, opened here and proven to be that
/// process's: the PID was chosen earlier and may have been reused since. A pidfd pins the
/// process; it must be in the container's cgroup, and still alive once the namespace is open
/// (then the PID could not have changed hands in between).
Result<Fd> open_container_netns(const ContainerPlace& place) {
  int pid = place.pid;
  for (int attempt = 0; attempt < kPidAttempts; ++attempt, pid = inventory::first_pid_of(place.cgroup_path)) {
    if (pid <= 0) return make_error(ESRCH, "no process runs in its cgroup {}", place.cgroup_path);
    Fd pidfd = open_pidfd(pid);
    if (!pidfd) {
      if (errno == ESRCH) continue;  // gone: pick another
      return make_error(errno, "cannot pin its process {}", pid);
    }
    if (!inventory::process_in_cgroup(pid, place.cgroup_path)) continue;  // PID reused by someone else
    Fd ns(::open(inventory::process_netns_path(pid).c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) {
      const int err = errno;
      if (err == ENOENT || err == ESRCH) continue;
      return make_error(err, "cannot open the network namespace of its process {}{}", pid,
                        err == EACCES || err == EPERM
                            ? " (another process's namespace needs CAP_SYS_PTRACE when it holds capabilities "
                              "podpath lacks)"
                            : "");
    }
    if (pidfd_exited(pidfd.get(), std::chrono::milliseconds(0))) continue;
    return ns;
  }
  return make_error(ESRCH, "its processes kept exiting while podpath looked at them ({} tries)",
                    kPidAttempts);
}

/// "cgroup.freeze" holds 1 in a frozen cgroup v2 (the container's runtime paused it).
bool frozen(const std::string& cgroup) {
  const auto text = read_file(std::filesystem::path(cgroup) / "cgroup.freeze", 16);
  return text && !text->empty() && text->front() == '1';
}

std::string step_failure(const ChildReport& r, const ContainerPlace& place, const model::IpAddress& to,
                         std::uint16_t port) {
  switch (r.step) {
  case Step::JoinCgroup:
    return fmt::format("cannot join its cgroup {}: {}", place.cgroup_path, std::strerror(r.err));
  case Step::EnterNetns:
    return fmt::format("cannot enter its network namespace{}: {}",
                       r.err == EPERM ? " (entering a network namespace needs CAP_SYS_ADMIN)" : "",
                       std::strerror(r.err));
  case Step::Socket:
    return fmt::format("cannot create a socket in its namespace: {}", std::strerror(r.err));
  case Step::Connect:
    return fmt::format("connect to {}:{} failed at once (no route from its namespace?): {}", to.to_string(),
                       port, std::strerror(r.err));
  case Step::Connected:
  case Step::NoAnswer:
    break;
  }
  return {};
}

}  // namespace

Result<void> probe_from_container(const ContainerPlace& place, const model::IpAddress& to,
                                  std::uint16_t port) {
  if (place.pid <= 0) return make_error(ESRCH, "no running process");
  if (place.cgroup_path.empty()) return make_error(ENOENT, "its cgroup is unknown");
  if (frozen(place.cgroup_path)) {
    return make_error(0, "its cgroup {} is frozen (the container is paused): nothing in it can run",
                      place.cgroup_path);
  }
  auto netns = open_container_netns(place);
  if (!netns) return netns.error();
  const std::string procs = (std::filesystem::path(place.cgroup_path) / "cgroup.procs").string();
  Fd procs_fd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!procs_fd) return make_error(errno, "cannot join its cgroup {}", place.cgroup_path);
  std::array<int, 2> pipe_fds{};
  if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) return make_error(errno, "pipe failed");
  Fd report_read(pipe_fds[0]);
  Fd report_write(pipe_fds[1]);

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
  if (child == 0) run_child(procs_fd.get(), netns->get(), report_write.get(), ss, sslen);
  report_write.reset();

  // Never wait forever: the child joins a cgroup its container can freeze at any moment.
  const ChildWait waited = wait_child(child, kProbeDeadline, kKillGrace);
  const auto deadline_s = std::chrono::duration_cast<std::chrono::seconds>(kProbeDeadline).count();
  if (waited.end == ChildEnd::Stuck) {
    return make_error(0,
                      "the probe process {} did not finish within {} s, nor die when killed (is the "
                      "container's cgroup frozen?)",
                      child, deadline_s);
  }
  if (waited.end == ChildEnd::Killed) {
    return make_error(0,
                      "the probe did not finish within {} s and was killed (was the container's cgroup "
                      "frozen meanwhile?)",
                      deadline_s);
  }
  const int status = waited.status;
  ChildReport report;
  if (::read(report_read.get(), &report, sizeof(report)) != static_cast<ssize_t>(sizeof(report))) {
    return make_error(0, "the probe process ended without a report (status {})", status);
  }
  if (const std::string failure = step_failure(report, place, to, port); !failure.empty()) {
    return make_error(0, "{}", failure);
  }
  return {};
}

}  // namespace podpath::check

#include "net/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <filesystem>
#include <system_error>
#include <thread>

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace podpath::net {

std::string netns_path(std::string_view netns) {
  if (netns.empty()) return {};
  if (netns.find('/') != std::string_view::npos) return std::string(netns);
  return std::string(kNetnsRunDir) + "/" + std::string(netns);
}

std::string netns_display(std::string_view netns) {
  if (netns.empty()) return "the host network namespace";
  return "network namespace " + std::string(netns);
}

Result<Fd> open_netns(std::string_view netns) {
  const std::string path = netns.empty() ? "/proc/thread-self/ns/net" : netns_path(netns);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errno, "cannot open {} ({})", netns_display(netns), path);
  return Fd(fd);
}

namespace {

Result<void> run_in(const Fd& ns, std::string_view display, const std::function<void()>& fn) {
  if (!ns) {
    fn();
    return {};
  }
  Result<void> status;
  std::exception_ptr thrown;
  std::thread worker([&] {
    // Only this thread moves; it exits right after, so nothing else ever runs in it.
    if (::setns(ns.get(), CLONE_NEWNET) != 0) {
      const int err = errno;
      // setns() checks CAP_SYS_ADMIN (CAP_BPF and CAP_NET_ADMIN are not enough): say which.
      status = make_error(err, "cannot enter {}{}", display,
                          err == EPERM ? " (entering a network namespace needs CAP_SYS_ADMIN)" : "");
      return;
    }
    try {
      fn();
    } catch (...) {
      thrown = std::current_exception();
    }
  });
  worker.join();
  if (thrown) std::rethrow_exception(thrown);
  return status;
}

}  // namespace

Result<void> run_in_netns_thread(std::string_view netns, const std::function<void()>& fn) {
  if (netns.empty()) return run_in(Fd(), netns_display(netns), fn);
  auto ns = open_netns(netns);
  if (!ns) return ns.error();
  return run_in(*ns, netns_display(netns), fn);
}

Result<void> run_in_netns_thread(const Fd& netns, const std::function<void()>& fn) {
  return run_in(netns, "a network namespace podpath had open", fn);
}

Result<std::uint64_t> netns_inode(std::string_view netns) {
  const std::string path = netns.empty() ? "/proc/self/ns/net" : netns_path(netns);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return make_error(errno, "cannot inspect {} ({})", netns_display(netns), path);
  return static_cast<std::uint64_t>(st.st_ino);
}

Result<std::uint64_t> netns_inode(const Fd& netns) {
  struct stat st {};
  if (::fstat(netns.get(), &st) != 0) return make_error(errno, "cannot inspect a network namespace");
  return static_cast<std::uint64_t>(st.st_ino);
}

Result<Fd> socket_in_netns(std::string_view netns, int domain, int type, int protocol) {
  return in_netns(netns, [&]() -> Result<Fd> {
    const int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd < 0) {
      const int err = errno;
      const bool raw = (type & SOCK_RAW) == SOCK_RAW;  // SOCK_RAW is 3: check all its bits
      return make_error(err, "cannot create a {}socket in {}{}", raw ? "raw " : "", netns_display(netns),
                        raw && err == EPERM ? " (a raw socket needs CAP_NET_RAW)" : "");
    }
    return Fd(fd);
  });
}

Result<std::uint64_t> socket_netns_cookie(int socket_fd) {
  std::uint64_t cookie = 0;
  socklen_t len = sizeof(cookie);
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0) {
    return make_error(errno, "getsockopt(SO_NETNS_COOKIE) failed (needs Linux 5.14+)");
  }
  return cookie;
}

Result<std::uint64_t> netns_cookie(std::string_view netns) {
  auto sock = socket_in_netns(netns, AF_UNIX, SOCK_DGRAM, 0);
  if (!sock) return sock.error();
  auto cookie = socket_netns_cookie(sock->get());
  if (!cookie) return wrap_error(cookie.error(), "cookie of {}", netns_display(netns));
  return cookie;
}

Result<bool> is_current_netns(std::string_view netns) {
  if (netns.empty()) return true;
  struct stat own {};
  struct stat other {};
  if (::stat("/proc/thread-self/ns/net", &own) != 0)
    return make_error(errno, "cannot stat this thread's network namespace");
  const std::string path = netns_path(netns);
  if (::stat(path.c_str(), &other) != 0)
    return make_error(errno, "cannot stat {} ({})", netns_display(netns), path);
  return own.st_dev == other.st_dev && own.st_ino == other.st_ino;
}

std::vector<std::string> named_netns(std::string_view prefix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(kNetnsRunDir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(std::move(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace podpath::net

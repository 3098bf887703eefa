#pragma once
/// @file
/// @brief Network namespaces: run code inside one, and tell them apart by cookie.
///
/// setns(CLONE_NEWNET) changes the namespace of the calling thread only, and a
/// multithreaded process must never move its main thread around. So every piece of work
/// that needs another namespace runs on a dedicated, short-lived thread that enters the
/// namespace, runs the work and exits. Sockets created there (netlink, AF_INET) stay
/// bound to that namespace for their whole life and may be used from any thread.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "util/fd.hpp"
#include "util/result.hpp"

namespace podpath::net {

/// @brief Where `ip netns add NAME` puts its namespace files.
inline constexpr std::string_view kNetnsRunDir = "/run/netns";

/// @brief The file of a network namespace: "" -> "" (the caller's own namespace), a
/// path (anything containing '/') -> itself, a name -> /run/netns/NAME.
std::string netns_path(std::string_view netns);

/// @brief "the host namespace" for "", else the name; for messages.
std::string netns_display(std::string_view netns);

/// @brief Opens a network namespace file read-only (close-on-exec).
Result<Fd> open_netns(std::string_view netns);

/// @brief Runs `fn` inside `netns` on a new thread and waits for it. "" runs `fn` on the
/// calling thread. Fails (without running `fn`) if the namespace cannot be opened or
/// entered. An exception thrown by `fn` is rethrown in the caller.
Result<void> run_in_netns_thread(std::string_view netns, const std::function<void()>& fn);

/// @brief The same, for a namespace already open (open_netns): it is reached even after its
/// name was deleted or given to another namespace. An invalid fd runs `fn` on the calling
/// thread (the caller's own namespace).
Result<void> run_in_netns_thread(const Fd& netns, const std::function<void()>& fn);

/// @brief Runs `fn` (returning a Result<T>) inside `netns` and returns its Result; an
/// error entering the namespace is returned in the same Result type.
template <typename F> std::invoke_result_t<F&> in_netns(std::string_view netns, F&& fn) {
  using R = std::invoke_result_t<F&>;
  std::optional<R> out;
  Result<void> entered = run_in_netns_thread(netns, [&] { out.emplace(fn()); });
  if (!entered) return entered.error();
  return std::move(*out);
}

/// @brief in_netns for a namespace already open (see run_in_netns_thread).
template <typename F> std::invoke_result_t<F&> in_netns(const Fd& netns, F&& fn) {
  using R = std::invoke_result_t<F&>;
  std::optional<R> out;
  Result<void> entered = run_in_netns_thread(netns, [&] { out.emplace(fn()); });
  if (!entered) return entered.error();
  return std::move(*out);
}

/// @brief Which namespace a name leads to now: the inode of its nsfs file (unique while the
/// namespace lives). "" is the caller's own namespace. ENOENT when the name is gone.
Result<std::uint64_t> netns_inode(std::string_view netns);
/// @brief The inode of an open namespace.
Result<std::uint64_t> netns_inode(const Fd& netns);

/// @brief Creates a socket inside `netns` (socket(2) arguments; SOCK_CLOEXEC is added).
Result<Fd> socket_in_netns(std::string_view netns, int domain, int type, int protocol);

/// @brief The cookie of the namespace a socket lives in (getsockopt SO_NETNS_COOKIE,
/// Linux 5.14+). BPF programs report the same value (bpf_get_netns_cookie).
Result<std::uint64_t> socket_netns_cookie(int socket_fd);

/// @brief The cookie of network namespace `netns` ("" = the caller's): unique for the
/// namespace's lifetime, never reused while the system runs.
Result<std::uint64_t> netns_cookie(std::string_view netns);

/// @brief True when `netns` is the namespace the calling thread is in (same namespace file:
/// device and inode). "" is always true.
Result<bool> is_current_netns(std::string_view netns);

/// @brief The names of the namespaces in /run/netns (`ip netns list`) that start with
/// `prefix`, sorted.
std::vector<std::string> named_netns(std::string_view prefix = {});

}  // namespace podpath::net

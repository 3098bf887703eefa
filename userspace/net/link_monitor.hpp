#pragma once
/// @file
/// @brief Link notifications (RTNLGRP_LINK) from several network namespaces, without
/// polling: one netlink socket per namespace, created inside it, all waited on by the
/// thread that calls poll().

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/links.hpp"
#include "util/result.hpp"

namespace podpath::net {

/// @brief What happened to a link.
enum class LinkEventType { Added, Removed, Changed };

/// @brief "added", "removed", "changed".
const char* to_string(LinkEventType type);

/// @brief One link event. `link.addresses` is always empty (links only).
struct LinkEvent {
  std::string netns;  ///< as given to watch()
  LinkEventType type = LinkEventType::Added;
  Link link;  ///< for Removed: the link as it was last known
};

/// @brief Watches the links of several network namespaces and reports changes through
/// one callback, always on the thread that calls poll().
///
/// Added/Removed/Changed are derived from the monitor's own view of each namespace
/// (RTM_NEWLINK is sent for both creation and change), so an interface recreated under
/// the same name is a Removed followed by an Added with a new ifindex. When the kernel
/// drops notifications (socket overrun) the monitor re-reads the namespace's links and
/// reports the difference, so no change is lost.
///
/// The sockets hold a reference on their namespace: a watched namespace lives on after
/// `ip netns del` until it is unwatched (or the monitor destroyed).
class LinkMonitor {
 public:
  using Callback = std::function<void(const LinkEvent&)>;

  explicit LinkMonitor(Callback callback);
  LinkMonitor(LinkMonitor&&) noexcept;
  LinkMonitor& operator=(LinkMonitor&&) noexcept;
  ~LinkMonitor();

  /// @brief Starts watching `netns` ("" = the caller's namespace). Subscribes first, then
  /// reads the current links; with `report_existing` each of them is reported as Added
  /// during this call. Watching a namespace twice is an error.
  Result<void> watch(std::string_view netns, bool report_existing = true);
  /// @brief Stops watching `netns` (no events are reported for it). Unknown names are ignored.
  void unwatch(std::string_view netns);
  /// @brief The namespaces being watched.
  [[nodiscard]] std::vector<std::string> watched() const;
  /// @brief The current links of a watched namespace (empty if not watched).
  [[nodiscard]] std::vector<Link> links(std::string_view netns) const;

  /// @brief Waits up to `timeout` for notifications from any watched namespace and
  /// reports them; returns the number of events reported (0 on timeout). A zero timeout
  /// only handles what is already queued. EINTR returns 0.
  Result<int> poll(std::chrono::milliseconds timeout);

  /// @brief The notification sockets, for callers that multiplex with epoll: when one is
  /// readable, call poll(0ms).
  [[nodiscard]] std::vector<int> fds() const;

 private:
  struct Watch;

  Callback callback_;
  std::map<std::string, std::unique_ptr<Watch>, std::less<>> watches_;
};

}  // namespace podpath::net

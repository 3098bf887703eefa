#include "net/link_monitor.hpp"

#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <poll.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <exception>
#include <utility>

#include "net/netlink.hpp"
#include "net/netns.hpp"

namespace podpath::net {
namespace {

/// What the libnl callbacks collect while a datagram is parsed: (link, removed) pairs, or
/// the exception that stopped them (it must not cross libnl's C frames; poll() rethrows it).
struct Inbox {
  std::vector<std::pair<Link, bool>> pending;
  std::exception_ptr thrown;
};

}  // namespace

/// One watched namespace: a subscribed socket for notifications, a second one for dumps
/// (a dump's replies must not interleave with notifications), and the links as last seen.
struct LinkMonitor::Watch {
  std::string netns;
  detail::NlSock events;
  detail::NlSock sync;
  std::map<std::uint32_t, Link> known;
  Inbox inbox;
};

namespace {

/// Receive buffer for notifications: large enough for a burst of pod churn.
constexpr int kEventBufferBytes = 1 << 20;
constexpr int kDumpAttempts = 5;

struct ParseContext {
  Inbox* inbox;
  bool removed;
};

void on_object(nl_object* obj, void* arg) noexcept {
  auto* ctx = static_cast<ParseContext*>(arg);
  if (ctx->inbox->thrown) return;
  auto* link = reinterpret_cast<rtnl_link*>(obj);
  // Bridges also send AF_BRIDGE link messages about their ports; the AF_UNSPEC ones
  // describe the interfaces themselves.
  if (rtnl_link_get_family(link) != AF_UNSPEC) return;
  try {
    ctx->inbox->pending.emplace_back(detail::to_link(link), ctx->removed);
  } catch (...) {
    ctx->inbox->thrown = std::current_exception();
  }
}

int on_message(nl_msg* msg, void* arg) noexcept {
  auto* inbox = static_cast<Inbox*>(arg);
  const auto type = nlmsg_hdr(msg)->nlmsg_type;
  if (type != RTM_NEWLINK && type != RTM_DELLINK) return NL_OK;
  ParseContext ctx{inbox, type == RTM_DELLINK};
  nl_msg_parse(msg, &on_object, &ctx);
  return inbox->thrown ? NL_STOP : NL_OK;
}

Result<std::map<std::uint32_t, Link>> dump_links(nl_sock* sock, const std::string& netns) {
  nl_cache* raw = nullptr;
  int err = 0;
  for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
    err = rtnl_link_alloc_cache(sock, AF_UNSPEC, &raw);
    if (err != -NLE_DUMP_INTR) break;
  }
  if (err < 0) return detail::nl_error(err, "cannot list interfaces in " + netns_display(netns));
  detail::NlCache cache(raw);
  std::map<std::uint32_t, Link> out;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr; obj = nl_cache_get_next(obj)) {
    Link l = detail::to_link(reinterpret_cast<rtnl_link*>(obj));
    out.emplace(l.ifindex, std::move(l));
  }
  return out;
}

void apply(std::map<std::uint32_t, Link>& known, const std::string& netns, Link link, bool removed,
           std::vector<LinkEvent>& events) {
  const auto it = known.find(link.ifindex);
  if (removed) {
    if (it == known.end()) return;
    events.push_back({netns, LinkEventType::Removed, std::move(it->second)});
    known.erase(it);
    return;
  }
  if (it == known.end()) {
    known.emplace(link.ifindex, link);
    events.push_back({netns, LinkEventType::Added, std::move(link)});
  } else if (!(it->second == link)) {
    it->second = link;
    events.push_back({netns, LinkEventType::Changed, std::move(link)});
  }
}

}  // namespace

const char* to_string(LinkEventType type) {
  switch (type) {
  case LinkEventType::Added:
    return "added";
  case LinkEventType::Removed:
    return "removed";
  case LinkEventType::Changed:
    return "changed";
  }
  return "?";
}

LinkMonitor::LinkMonitor(Callback callback) : callback_(std::move(callback)) {}
LinkMonitor::LinkMonitor(LinkMonitor&&) noexcept = default;
LinkMonitor& LinkMonitor::operator=(LinkMonitor&&) noexcept = default;
LinkMonitor::~LinkMonitor() = default;

Result<void> LinkMonitor::watch(std::string_view netns, bool report_existing) {
  if (watches_.find(netns) != watches_.end()) {
    return make_error(EEXIST, "{} is already watched", netns_display(netns));
  }
  auto w = std::make_unique<Watch>();
  w->netns = std::string(netns);
  // Both sockets are created inside the namespace and stay bound to it.
  auto created = in_netns(netns, [&]() -> Result<void> {
    auto events = detail::connect_route_socket();
    if (!events) return events.error();
    auto sync = detail::connect_route_socket();
    if (!sync) return sync.error();
    w->events = std::move(*events);
    w->sync = std::move(*sync);
    return {};
  });
  if (!created) return created.error();

  nl_sock* ev = w->events.get();
  nl_socket_disable_seq_check(ev);
  nl_socket_modify_cb(ev, NL_CB_VALID, NL_CB_CUSTOM, &on_message, &w->inbox);
  if (const int err = nl_socket_set_buffer_size(ev, kEventBufferBytes, 0); err < 0) {
    spdlog::debug("link monitor: cannot enlarge the receive buffer in {}: {}", netns_display(netns),
                  nl_geterror(err));
  }
  if (const int err = nl_socket_add_membership(ev, RTNLGRP_LINK); err < 0) {
    return detail::nl_error(err, "cannot subscribe to link notifications in " + netns_display(netns));
  }
  if (const int err = nl_socket_set_nonblocking(ev); err < 0) {
    return detail::nl_error(err, "cannot make the link notification socket non-blocking");
  }
  // Subscribed first, listed second: a link created in between is in the list, and its
  // queued notification then matches what is known and reports nothing.
  auto current = dump_links(w->sync.get(), w->netns);
  if (!current) return current.error();
  std::vector<LinkEvent> events;
  for (auto& [ifindex, link] : *current) {
    if (report_existing) events.push_back({w->netns, LinkEventType::Added, link});
  }
  w->known = std::move(*current);
  watches_.emplace(w->netns, std::move(w));
  spdlog::debug("link monitor: watching {}", netns_display(netns));
  for (const auto& e : events) callback_(e);
  return {};
}

void LinkMonitor::unwatch(std::string_view netns) {
  const auto it = watches_.find(netns);
  if (it != watches_.end()) watches_.erase(it);
}

std::vector<std::string> LinkMonitor::watched() const {
  std::vector<std::string> out;
  for (const auto& [name, w] : watches_) out.push_back(name);
  return out;
}

std::vector<Link> LinkMonitor::links(std::string_view netns) const {
  std::vector<Link> out;
  const auto it = watches_.find(netns);
  if (it == watches_.end()) return out;
  for (const auto& [ifindex, link] : it->second->known) out.push_back(link);
  return out;
}

std::vector<int> LinkMonitor::fds() const {
  std::vector<int> out;
  for (const auto& [name, w] : watches_) out.push_back(nl_socket_get_fd(w->events.get()));
  return out;
}

Result<int> LinkMonitor::poll(std::chrono::milliseconds timeout) {
  std::vector<pollfd> pfds;
  std::vector<Watch*> order;
  for (auto& [name, w] : watches_) {
    pfds.push_back({nl_socket_get_fd(w->events.get()), POLLIN, 0});
    order.push_back(w.get());
  }
  const int ready = ::poll(pfds.data(), pfds.size(), static_cast<int>(timeout.count()));
  if (ready < 0) {
    if (errno == EINTR) return 0;
    return make_error(errno, "waiting for link notifications failed");
  }
  std::vector<LinkEvent> events;
  for (std::size_t i = 0; i < pfds.size(); ++i) {
    if (pfds[i].revents == 0) continue;
    Watch& w = *order[i];
    bool overrun = false;
    // Read datagram by datagram while the socket has data; each may hold many messages.
    for (;;) {
      pollfd one{pfds[i].fd, POLLIN, 0};
      if (::poll(&one, 1, 0) <= 0 || (one.revents & POLLIN) == 0) break;
      const int err = nl_recvmsgs_default(w.events.get());
      if (err == -NLE_NOMEM) {  // ENOBUFS: the kernel dropped notifications
        overrun = true;
        continue;
      }
      if (w.inbox.thrown) {
        w.inbox.pending.clear();
        std::rethrow_exception(std::exchange(w.inbox.thrown, nullptr));
      }
      if (err < 0 && err != -NLE_AGAIN) {
        return detail::nl_error(err, "reading link notifications from " + netns_display(w.netns) + " failed");
      }
    }
    for (auto& [link, removed] : w.inbox.pending) apply(w.known, w.netns, std::move(link), removed, events);
    w.inbox.pending.clear();
    if (overrun) {
      spdlog::warn("link monitor: notifications from {} were lost; re-reading its interfaces",
                   netns_display(w.netns));
      auto current = dump_links(w.sync.get(), w.netns);
      if (!current) return current.error();
      for (auto it = w.known.begin(); it != w.known.end();) {
        if (current->count(it->first) == 0) {
          events.push_back({w.netns, LinkEventType::Removed, std::move(it->second)});
          it = w.known.erase(it);
        } else {
          ++it;
        }
      }
      for (auto& [ifindex, link] : *current) apply(w.known, w.netns, std::move(link), false, events);
    }
  }
  for (const auto& e : events) callback_(e);
  return static_cast<int>(events.size());
}

}  // namespace podpath::net

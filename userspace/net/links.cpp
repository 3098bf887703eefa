#include "net/links.hpp"

#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/route/addr.h>

#include <algorithm>

#include "net/netlink.hpp"
#include "net/netns.hpp"

namespace podpath::net {
namespace {

using detail::NlCache;

/// A dump interrupted by a concurrent change (NLE_DUMP_INTR) is simply repeated.
constexpr int kDumpAttempts = 5;

Result<std::vector<Link>> read_links_here(std::string_view netns) {
  auto sock = detail::connect_route_socket();
  if (!sock) return sock.error();
  nl_cache* raw_links = nullptr;
  nl_cache* raw_addrs = nullptr;
  int err = 0;
  for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
    err = rtnl_link_alloc_cache(sock->get(), AF_UNSPEC, &raw_links);
    if (err != -NLE_DUMP_INTR) break;
  }
  if (err < 0) return detail::nl_error(err, "cannot list interfaces in " + netns_display(netns));
  NlCache links(raw_links);
  for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
    err = rtnl_addr_alloc_cache(sock->get(), &raw_addrs);
    if (err != -NLE_DUMP_INTR) break;
  }
  if (err < 0) return detail::nl_error(err, "cannot list addresses in " + netns_display(netns));
  NlCache addrs(raw_addrs);

  std::vector<Link> out;
  for (nl_object* obj = nl_cache_get_first(links.get()); obj != nullptr; obj = nl_cache_get_next(obj)) {
    out.push_back(detail::to_link(reinterpret_cast<rtnl_link*>(obj)));
  }
  std::sort(out.begin(), out.end(), [](const Link& a, const Link& b) { return a.ifindex < b.ifindex; });
  for (nl_object* obj = nl_cache_get_first(addrs.get()); obj != nullptr; obj = nl_cache_get_next(obj)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    const auto ip = detail::to_ip(rtnl_addr_get_local(addr));
    if (!ip) continue;
    const auto ifindex = static_cast<std::uint32_t>(rtnl_addr_get_ifindex(addr));
    auto it = std::find_if(out.begin(), out.end(), [&](const Link& l) { return l.ifindex == ifindex; });
    if (it == out.end()) continue;
    it->addresses.push_back({*ip, static_cast<std::uint8_t>(rtnl_addr_get_prefixlen(addr)),
                             static_cast<std::uint8_t>(rtnl_addr_get_scope(addr))});
  }
  return out;
}

}  // namespace

std::string LinkAddress::to_string() const { return address.to_string() + "/" + std::to_string(prefix_len); }

bool Link::is_up() const { return (flags & IFF_UP) != 0; }
bool Link::is_running() const { return (flags & IFF_RUNNING) != 0; }
bool Link::is_loopback() const { return (flags & IFF_LOOPBACK) != 0; }

std::optional<LinkAddress> Link::ipv4() const {
  for (const auto& a : addresses) {
    if (a.address.is_v4()) return a;
  }
  return std::nullopt;
}

Result<std::vector<Link>> list_links(std::string_view netns) {
  return in_netns(netns, [&] { return read_links_here(netns); });
}

const Link* find_link(const std::vector<Link>& links, std::string_view name) {
  const auto it = std::find_if(links.begin(), links.end(), [&](const Link& l) { return l.name == name; });
  return it == links.end() ? nullptr : &*it;
}

const Link* find_link(const std::vector<Link>& links, std::uint32_t ifindex) {
  const auto it =
      std::find_if(links.begin(), links.end(), [&](const Link& l) { return l.ifindex == ifindex; });
  return it == links.end() ? nullptr : &*it;
}

std::vector<const Link*> bridge_ports(const std::vector<Link>& links, std::uint32_t bridge_ifindex) {
  std::vector<const Link*> out;
  if (bridge_ifindex == 0) return out;
  for (const auto& l : links) {
    if (l.master_ifindex == bridge_ifindex) out.push_back(&l);
  }
  return out;
}

}  // namespace podpath::net

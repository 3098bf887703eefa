#include "net/routes.hpp"

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/errno.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <sys/socket.h>

#include <vector>

#include "net/netlink.hpp"
#include "net/netns.hpp"

namespace podpath::net {

static_assert(kScopeUniverse == RT_SCOPE_UNIVERSE && kScopeLink == RT_SCOPE_LINK &&
              kScopeHost == RT_SCOPE_HOST);
static_assert(kProtoKernel == RTPROT_KERNEL && kProtoBoot == RTPROT_BOOT && kProtoStatic == RTPROT_STATIC &&
              kProtoDhcp == RTPROT_DHCP);
static_assert(kTypeUnicast == RTN_UNICAST && kTypeLocal == RTN_LOCAL && kTypeBroadcast == RTN_BROADCAST &&
              kTypeMulticast == RTN_MULTICAST && kTypeBlackhole == RTN_BLACKHOLE &&
              kTypeUnreachable == RTN_UNREACHABLE && kTypeProhibit == RTN_PROHIBIT);
static_assert(kTableMain == RT_TABLE_MAIN && kTableLocal == RT_TABLE_LOCAL);

namespace {

using detail::NlCache;

constexpr int kDumpAttempts = 5;

template <typename Alloc> Result<NlCache> dump(Alloc alloc, const std::string& what) {
  nl_cache* raw = nullptr;
  int err = 0;
  for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
    err = alloc(&raw);
    if (err != -NLE_DUMP_INTR) break;
  }
  if (err < 0) return detail::nl_error(err, what);
  return NlCache(raw);
}

std::string ifname(nl_cache* links, int ifindex) {
  if (ifindex <= 0) return {};
  char buf[64] = {};
  if (rtnl_link_i2name(links, ifindex, buf, sizeof(buf)) == nullptr) return std::to_string(ifindex);
  return buf;
}

int family_number(Family family) {
  switch (family) {
  case Family::Ipv4:
    return AF_INET;
  case Family::Ipv6:
    return AF_INET6;
  case Family::Any:
    break;
  }
  return AF_UNSPEC;
}

std::optional<Route> to_route(rtnl_route* r, nl_cache* links) {
  Route out;
  const int family = rtnl_route_get_family(r);
  if (family != AF_INET && family != AF_INET6) return std::nullopt;
  nl_addr* dst = rtnl_route_get_dst(r);
  const auto prefix = static_cast<std::uint8_t>(dst != nullptr ? nl_addr_get_prefixlen(dst) : 0);
  auto network = detail::to_ip(dst);
  if (!network) {
    // The default route comes with an empty destination.
    network = family == AF_INET ? model::IpAddress::from_v4_be(0) : model::IpAddress{};
  }
  out.dst = model::Cidr::make(*network, prefix);
  out.metric = rtnl_route_get_priority(r);
  out.scope = rtnl_route_get_scope(r);
  out.protocol = rtnl_route_get_protocol(r);
  out.type = rtnl_route_get_type(r);
  out.table = rtnl_route_get_table(r);
  out.prefsrc = detail::to_ip(rtnl_route_get_pref_src(r));
  const int n = rtnl_route_get_nnexthops(r);
  out.nexthops = static_cast<std::uint32_t>(n);
  if (n > 0) {
    rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
    out.gateway = detail::to_ip(rtnl_route_nh_get_gateway(nh));
    if (!out.gateway) out.gateway = detail::to_ip(rtnl_route_nh_get_via(nh));
    out.ifindex = static_cast<std::uint32_t>(rtnl_route_nh_get_ifindex(nh));
    out.dev = ifname(links, rtnl_route_nh_get_ifindex(nh));
  }
  return out;
}

Result<RouteTable> read_routes_here(std::string_view netns, std::uint32_t table, Family family) {
  auto sock = detail::connect_route_socket();
  if (!sock) return sock.error();
  const std::string where = netns_display(netns);
  auto links = dump([&](nl_cache** c) { return rtnl_link_alloc_cache(sock->get(), AF_UNSPEC, c); },
                    "cannot list interfaces in " + where);
  if (!links) return links.error();
  auto routes =
      dump([&](nl_cache** c) { return rtnl_route_alloc_cache(sock->get(), family_number(family), 0, c); },
           "cannot read the routing table of " + where);
  if (!routes) return routes.error();
  RouteTable out;
  for (nl_object* obj = nl_cache_get_first(routes->get()); obj != nullptr; obj = nl_cache_get_next(obj)) {
    auto* r = reinterpret_cast<rtnl_route*>(obj);
    if (rtnl_route_get_table(r) != table) continue;
    if (auto route = to_route(r, links->get())) out.add(std::move(*route));
  }
  return out;
}

Result<NeighbourTables> read_neighbours_here(std::string_view netns) {
  auto sock = detail::connect_route_socket();
  if (!sock) return sock.error();
  const std::string where = netns_display(netns);
  auto links = dump([&](nl_cache** c) { return rtnl_link_alloc_cache(sock->get(), AF_UNSPEC, c); },
                    "cannot list interfaces in " + where);
  if (!links) return links.error();
  auto neigh = dump([&](nl_cache** c) { return rtnl_neigh_alloc_cache(sock->get(), c); },
                    "cannot read the neighbour table of " + where);
  if (!neigh) return neigh.error();
  // The bridge FDB answers only a dump asked for AF_BRIDGE.
  auto fdb = dump(
      [&](nl_cache** c) {
        if (const int err = nl_cache_alloc_name("route/neigh", c); err < 0) return err;
        nl_cache_set_arg1(*c, AF_BRIDGE);
        const int err = nl_cache_refill(sock->get(), *c);
        if (err < 0) {
          nl_cache_free(*c);
          *c = nullptr;
        }
        return err;
      },
      "cannot read the bridge forwarding database of " + where);
  if (!fdb) return fdb.error();
  NeighbourTables out;
  std::vector<nl_object*> objects;
  for (nl_cache* cache : {neigh->get(), fdb->get()}) {
    for (nl_object* obj = nl_cache_get_first(cache); obj != nullptr; obj = nl_cache_get_next(obj)) {
      objects.push_back(obj);
    }
  }
  for (nl_object* obj : objects) {
    auto* n = reinterpret_cast<rtnl_neigh*>(obj);
    const int state = rtnl_neigh_get_state(n);
    if (rtnl_neigh_get_family(n) == AF_BRIDGE) {
      FdbEntry e;
      e.mac = detail::to_mac(rtnl_neigh_get_lladdr(n));
      e.port_ifindex = static_cast<std::uint32_t>(rtnl_neigh_get_ifindex(n));
      const int master = rtnl_neigh_get_master(n);
      e.bridge_ifindex = master > 0 ? static_cast<std::uint32_t>(master) : 0;
      e.local = state >= 0 && (state & NUD_PERMANENT) != 0;
      if (!e.mac.empty()) out.fdb.push_back(std::move(e));
      continue;
    }
    const auto ip = detail::to_ip(rtnl_neigh_get_dst(n));
    if (!ip) continue;
    Neighbour e;
    e.ip = *ip;
    e.mac = detail::to_mac(rtnl_neigh_get_lladdr(n));
    e.ifindex = static_cast<std::uint32_t>(rtnl_neigh_get_ifindex(n));
    e.dev = ifname(links->get(), rtnl_neigh_get_ifindex(n));
    e.state = static_cast<std::uint16_t>(state < 0 ? 0 : state);
    char buf[128] = {};
    rtnl_neigh_state2str(state, buf, sizeof(buf));
    e.state_name = buf;
    out.neighbours.push_back(std::move(e));
  }
  return out;
}

}  // namespace

bool Neighbour::failed() const { return (state & NUD_FAILED) != 0; }

Result<RouteTable> read_routes(std::string_view netns, std::uint32_t table, Family family) {
  return in_netns(netns, [&] { return read_routes_here(netns, table, family); });
}

Result<NeighbourTables> read_neighbours(std::string_view netns) {
  return in_netns(netns, [&] { return read_neighbours_here(netns); });
}

}  // namespace podpath::net

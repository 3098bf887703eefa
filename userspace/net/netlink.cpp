#include "net/netlink.hpp"

#include <linux/if_arp.h>
#include <netlink/errno.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>

namespace podpath::net::detail {
namespace {

int errno_for(int nlerr) {
  switch (nlerr < 0 ? -nlerr : nlerr) {
  case NLE_PERM:
    return EPERM;
  case NLE_NOACCESS:
    return EACCES;
  case NLE_NOMEM:
    return ENOMEM;
  case NLE_NODEV:
    return ENODEV;
  case NLE_OBJ_NOTFOUND:
    return ENOENT;
  case NLE_AGAIN:
    return EAGAIN;
  case NLE_BUSY:
    return EBUSY;
  case NLE_INVAL:
    return EINVAL;
  case NLE_EXIST:
    return EEXIST;
  case NLE_AF_NOSUPPORT:
    return EAFNOSUPPORT;
  default:
    return 0;
  }
}

}  // namespace

Error nl_error(int nlerr, std::string_view what) {
  const int code = errno_for(nlerr);
  if (code != 0) return make_error(code, "{}", what);
  return make_error(0, "{}: {}", what, nl_geterror(nlerr));
}

Result<NlSock> connect_route_socket() {
  NlSock sock(nl_socket_alloc());
  if (!sock) return make_error(ENOMEM, "cannot allocate a netlink socket");
  if (const int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) {
    return nl_error(err, "cannot open a rtnetlink socket");
  }
  return sock;
}

std::optional<model::IpAddress> to_ip(nl_addr* addr) {
  if (addr == nullptr) return std::nullopt;
  const int family = nl_addr_get_family(addr);
  const unsigned len = nl_addr_get_len(addr);
  const auto* bytes = static_cast<const std::uint8_t*>(nl_addr_get_binary_addr(addr));
  if (family == AF_INET && len == 4) return model::IpAddress::from_bytes(bytes, 4);
  if (family == AF_INET6 && len == 16) return model::IpAddress::from_bytes(bytes, 16);
  return std::nullopt;
}

std::string to_mac(nl_addr* addr) {
  if (addr == nullptr || nl_addr_get_len(addr) == 0) return {};
  const auto* bytes = static_cast<const std::uint8_t*>(nl_addr_get_binary_addr(addr));
  std::string out;
  for (unsigned i = 0; i < nl_addr_get_len(addr); ++i) {
    char buf[4];
    std::snprintf(buf, sizeof(buf), i == 0 ? "%02x" : ":%02x", bytes[i]);
    out += buf;
  }
  return out;
}

Link to_link(rtnl_link* link) {
  Link out;
  if (const char* name = rtnl_link_get_name(link)) out.name = name;
  out.ifindex = static_cast<std::uint32_t>(rtnl_link_get_ifindex(link));
  if (const char* kind = rtnl_link_get_type(link)) out.kind = kind;
  out.link_type = rtnl_link_get_arptype(link);
  out.master_ifindex = static_cast<std::uint32_t>(rtnl_link_get_master(link));
  out.link_ifindex = static_cast<std::uint32_t>(rtnl_link_get_link(link));
  std::int32_t netnsid = 0;
  if (rtnl_link_get_link_netnsid(link, &netnsid) == 0) out.link_netnsid = netnsid;
  out.flags = rtnl_link_get_flags(link);
  char state[32] = {};
  rtnl_link_operstate2str(rtnl_link_get_operstate(link), state, sizeof(state));
  out.oper_state = state;
  if (rtnl_link_get_arptype(link) != ARPHRD_LOOPBACK) out.mac = to_mac(rtnl_link_get_addr(link));
  out.mtu = rtnl_link_get_mtu(link);
  return out;
}

}  // namespace podpath::net::detail

#pragma once
/// @file
/// @brief libnl plumbing shared by net/*.cpp: owners for sockets and caches, errors,
/// address conversion. Included by net/ sources only; other layers use the plain types
/// of links.hpp, route_table.hpp and neighbours.hpp.

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "model/address.hpp"
#include "net/links.hpp"
#include "util/result.hpp"

namespace podpath::net::detail {

struct NlSockDeleter {
  void operator()(nl_sock* sock) const { nl_socket_free(sock); }
};
/// @brief An owned libnl socket (closed and freed on destruction).
using NlSock = std::unique_ptr<nl_sock, NlSockDeleter>;

struct NlCacheDeleter {
  void operator()(nl_cache* cache) const { nl_cache_free(cache); }
};
/// @brief An owned libnl cache.
using NlCache = std::unique_ptr<nl_cache, NlCacheDeleter>;

/// @brief An Error for a failed libnl call (`nlerr` is the negative NLE_* code), with
/// the closest errno when there is one.
Error nl_error(int nlerr, std::string_view what);

/// @brief A NETLINK_ROUTE socket, connected in the calling thread's network namespace.
Result<NlSock> connect_route_socket();

/// @brief An IPv4/IPv6 nl_addr as an IpAddress; nullopt for other families or an empty
/// address.
std::optional<model::IpAddress> to_ip(nl_addr* addr);
/// @brief A link-layer nl_addr as "aa:bb:cc:dd:ee:ff"; empty if absent.
std::string to_mac(nl_addr* addr);

/// @brief The plain Link for an rtnl_link (no addresses).
Link to_link(rtnl_link* link);

}  // namespace podpath::net::detail

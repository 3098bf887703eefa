#pragma once
/// @file
/// @brief Network interfaces of a namespace, read with libnl-route-3 (RTM_GETLINK and
/// RTM_GETADDR dumps), as plain data.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/address.hpp"
#include "util/result.hpp"

namespace podpath::net {

/// @brief One address assigned to an interface.
struct LinkAddress {
  model::IpAddress address;
  std::uint8_t prefix_len = 0;
  std::uint8_t scope = 0;  ///< RT_SCOPE_*: 0 global, 253 link, 254 host

  /// @brief The connected network (10.10.129.1/24 -> 10.10.129.0/24).
  [[nodiscard]] model::Cidr network() const { return model::Cidr::make(address, prefix_len); }
  /// @brief "10.10.129.1/24".
  [[nodiscard]] std::string to_string() const;
  bool operator==(const LinkAddress&) const = default;
};

/// @brief One network interface as the kernel reports it.
struct Link {
  std::string name;
  std::uint32_t ifindex = 0;
  std::string kind;                  ///< rtnl kind: "veth", "bridge", "vxlan"; empty for physical and lo
  std::uint32_t link_type = 0;       ///< ARPHRD_*: 1 Ethernet, 772 loopback, 65534 none (tun, WireGuard)
  std::uint32_t master_ifindex = 0;  ///< the bridge (or bond) it is enslaved to; 0 if none
  std::uint32_t link_ifindex = 0;    ///< IFLA_LINK: a veth's peer ifindex (in the peer's namespace)
  std::optional<std::int32_t> link_netnsid;  ///< the peer's namespace id, when it lives elsewhere
  std::uint32_t flags = 0;                   ///< IFF_* (IFF_UP = 0x1, IFF_RUNNING = 0x40, IFF_LOOPBACK = 0x8)
  std::string oper_state;                    ///< "up", "down", "unknown", "lowerlayerdown", ...
  std::string mac;                           ///< "aa:bb:cc:dd:ee:ff"; empty if none
  std::uint32_t mtu = 0;
  std::vector<LinkAddress> addresses;

  /// @brief Administratively up (`ip link set X up`).
  [[nodiscard]] bool is_up() const;
  /// @brief Up and with carrier (IFF_RUNNING).
  [[nodiscard]] bool is_running() const;
  [[nodiscard]] bool is_loopback() const;
  [[nodiscard]] bool is_veth() const { return kind == "veth"; }
  [[nodiscard]] bool is_bridge() const { return kind == "bridge"; }
  /// @brief The first IPv4 address (the primary one), if any.
  [[nodiscard]] std::optional<LinkAddress> ipv4() const;
  bool operator==(const Link&) const = default;
};

/// @brief Every interface of `netns` ("" = the caller's namespace) with its addresses,
/// ordered by ifindex.
Result<std::vector<Link>> list_links(std::string_view netns = "");

/// @brief The link named `name`, or nullptr.
const Link* find_link(const std::vector<Link>& links, std::string_view name);
/// @brief The link with `ifindex`, or nullptr.
const Link* find_link(const std::vector<Link>& links, std::uint32_t ifindex);
/// @brief The links enslaved to bridge `bridge_ifindex`, in ifindex order.
std::vector<const Link*> bridge_ports(const std::vector<Link>& links, std::uint32_t bridge_ifindex);

}  // namespace podpath::net

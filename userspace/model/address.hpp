#pragma once
/// @file
/// @brief IP addresses and CIDRs as podpath stores them: 16 bytes, IPv4 v4-mapped,
/// exactly like the kernel programs' flow keys.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace podpath::model {

/// @brief An IPv4 or IPv6 address; IPv4 is held as ::ffff:a.b.c.d.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};

  /// @brief Parses "10.0.0.1" or "fd00::1"; nullopt for anything else.
  static std::optional<IpAddress> parse(std::string_view text);
  /// @brief From an IPv4 address in network byte order (as in struct in_addr).
  static IpAddress from_v4_be(std::uint32_t addr_be);
  /// @brief From 4 (IPv4) or 16 (IPv6) raw network-order bytes.
  static IpAddress from_bytes(const std::uint8_t* data, std::size_t len);

  [[nodiscard]] bool is_v4() const;
  /// @brief IPv4 address in host byte order; only meaningful when is_v4().
  [[nodiscard]] std::uint32_t v4_host() const;
  /// @brief Dotted quad for IPv4, RFC 5952 text for IPv6.
  [[nodiscard]] std::string to_string() const;

  auto operator<=>(const IpAddress&) const = default;
};

/// @brief A prefix: address (host bits cleared) and length in bits of its own family
/// (0..32 for IPv4, 0..128 for IPv6).
struct Cidr {
  IpAddress network;
  std::uint8_t prefix_len = 0;

  /// @brief Parses "10.10.129.0/24" (host bits are cleared) or a bare address (/32, /128).
  static std::optional<Cidr> parse(std::string_view text);
  static Cidr make(const IpAddress& addr, std::uint8_t prefix_len);

  [[nodiscard]] bool is_v4() const { return network.is_v4(); }
  [[nodiscard]] bool contains(const IpAddress& addr) const;
  /// @brief Prefix length in the 128-bit space (IPv4: prefix_len + 96).
  [[nodiscard]] unsigned prefix_len128() const { return is_v4() ? prefix_len + 96u : prefix_len; }
  /// @brief IPv4 netmask as an address (255.255.255.0 for /24).
  [[nodiscard]] IpAddress netmask() const;
  [[nodiscard]] std::string to_string() const;

  auto operator<=>(const Cidr&) const = default;
};

}  // namespace podpath::model

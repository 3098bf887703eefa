#include "model/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace podpath::model {
namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

IpAddress masked(const IpAddress& addr, unsigned bits128) {
  IpAddress out = addr;
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned lo = i * 8;
    if (bits128 >= lo + 8) continue;
    const unsigned keep = bits128 > lo ? bits128 - lo : 0;
    const auto mask = static_cast<std::uint8_t>(keep == 0 ? 0 : 0xff << (8 - keep));
    out.bytes[i] &= mask;
  }
  return out;
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return from_v4_be(v4.s_addr);
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) return from_bytes(v6.s6_addr, 16);
  return std::nullopt;
}

IpAddress IpAddress::from_v4_be(std::uint32_t addr_be) {
  IpAddress a;
  std::memcpy(a.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
  std::memcpy(a.bytes.data() + 12, &addr_be, 4);
  return a;
}

IpAddress IpAddress::from_bytes(const std::uint8_t* data, std::size_t len) {
  if (len == 4) {
    std::uint32_t be = 0;
    std::memcpy(&be, data, 4);
    return from_v4_be(be);
  }
  IpAddress a;
  std::memcpy(a.bytes.data(), data, std::min<std::size_t>(len, 16));
  return a;
}

bool IpAddress::is_v4() const {
  return std::memcmp(bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0;
}

std::uint32_t IpAddress::v4_host() const {
  return static_cast<std::uint32_t>(bytes[12]) << 24 | static_cast<std::uint32_t>(bytes[13]) << 16 |
         static_cast<std::uint32_t>(bytes[14]) << 8 | bytes[15];
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    // By hand: glibc's inet_ntop formats IPv4 through sprintf, a tenth of an agent's refresh.
    char* p = buf;
    for (std::size_t i = 12; i < 16; ++i) {
      if (i > 12) *p++ = '.';
      p = std::to_chars(p, buf + sizeof(buf), bytes[i]).ptr;
    }
    return std::string(buf, p);
  }
  inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  const unsigned max = addr->is_v4() ? 32 : 128;
  unsigned len = max;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    len = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      len = len * 10 + static_cast<unsigned>(c - '0');
    }
    if (len > max) return std::nullopt;
  }
  return make(*addr, static_cast<std::uint8_t>(len));
}

Cidr Cidr::make(const IpAddress& addr, std::uint8_t prefix_len) {
  Cidr c;
  c.prefix_len = prefix_len;
  c.network = masked(addr, addr.is_v4() ? prefix_len + 96u : prefix_len);
  return c;
}

bool Cidr::contains(const IpAddress& addr) const {
  if (addr.is_v4() != is_v4()) return false;
  return masked(addr, prefix_len128()) == network;
}

IpAddress Cidr::netmask() const {
  IpAddress ones;
  ones.bytes.fill(0xff);
  if (is_v4()) std::memcpy(ones.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
  IpAddress m = masked(ones, prefix_len128());
  if (is_v4()) std::memcpy(m.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
  return m;
}

std::string Cidr::to_string() const { return network.to_string() + "/" + std::to_string(prefix_len); }

}  // namespace podpath::model

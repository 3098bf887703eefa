#pragma once
// Crafted Ethernet frames for the BPF tier, the fuzz seeds and the benchmarks.
#include <arpa/inet.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace podpath::testing {

/// Builds a frame layer by layer; every field in network byte order on the wire.
class FrameBuilder {
 public:
  using Bytes = std::vector<std::uint8_t>;

  FrameBuilder& eth(std::uint16_t ethertype) {
    append({0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01});
    put16(ethertype);
    return *this;
  }
  FrameBuilder& vlan(std::uint16_t tci, std::uint16_t inner_ethertype) {
    put16(tci);
    put16(inner_ethertype);
    return *this;
  }
  /// IPv4 header; `options` bytes (multiple of 4) extend IHL; frag = flags+offset field.
  FrameBuilder& ipv4(const char* src, const char* dst, std::uint8_t proto, std::uint16_t payload_len,
                     std::uint16_t frag = 0, Bytes options = {}, std::uint8_t ihl_override = 0) {
    const auto ihl = static_cast<std::uint8_t>(ihl_override ? ihl_override : 5 + options.size() / 4);
    bytes_.push_back(static_cast<std::uint8_t>(0x40 | ihl));
    bytes_.push_back(0);
    put16(static_cast<std::uint16_t>(20 + options.size() + payload_len));
    put16(0x1234);  // id
    put16(frag);
    bytes_.push_back(64);
    bytes_.push_back(proto);
    put16(0);  // checksum: not checked by podpath
    put_addr(AF_INET, src);
    put_addr(AF_INET, dst);
    append(options);
    return *this;
  }
  FrameBuilder& ipv6(const char* src, const char* dst, std::uint8_t next_header, std::uint16_t payload_len) {
    append({0x60, 0, 0, 0});
    put16(payload_len);
    bytes_.push_back(next_header);
    bytes_.push_back(64);
    put_addr(AF_INET6, src);
    put_addr(AF_INET6, dst);
    return *this;
  }
  /// Generic 8-byte IPv6 extension header (hop-by-hop, routing, destination options).
  FrameBuilder& ipv6_ext(std::uint8_t next_header, std::uint8_t len8 = 0) {
    bytes_.push_back(next_header);
    bytes_.push_back(len8);
    bytes_.resize(bytes_.size() + 6 + len8 * 8u, 0);
    return *this;
  }
  FrameBuilder& ipv6_frag(std::uint8_t next_header, std::uint16_t offset8, bool more) {
    bytes_.push_back(next_header);
    bytes_.push_back(0);
    put16(static_cast<std::uint16_t>(offset8 << 3 | (more ? 1 : 0)));
    append({0, 0, 0, 42});
    return *this;
  }
  FrameBuilder& tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags, std::uint8_t doff = 5) {
    put16(sport);
    put16(dport);
    append({0, 0, 0, 1, 0, 0, 0, 0});
    bytes_.push_back(static_cast<std::uint8_t>(doff << 4));
    bytes_.push_back(flags);
    append({0xff, 0xff, 0, 0, 0, 0});
    if (doff > 5) bytes_.resize(bytes_.size() + (doff - 5) * 4u, 0);
    return *this;
  }
  FrameBuilder& udp(std::uint16_t sport, std::uint16_t dport, std::uint16_t payload_len = 0) {
    put16(sport);
    put16(dport);
    put16(static_cast<std::uint16_t>(8 + payload_len));
    put16(0);
    return *this;
  }
  FrameBuilder& sctp(std::uint16_t sport, std::uint16_t dport) {
    put16(sport);
    put16(dport);
    append({0, 0, 0, 7, 0, 0, 0, 0});
    return *this;
  }
  FrameBuilder& icmp(std::uint8_t type, std::uint8_t code, std::uint16_t id, std::uint16_t seq) {
    bytes_.push_back(type);
    bytes_.push_back(code);
    put16(0);
    put16(id);
    put16(seq);
    return *this;
  }
  FrameBuilder& payload(std::size_t n, std::uint8_t fill = 0xab) {
    bytes_.resize(bytes_.size() + n, fill);
    return *this;
  }
  FrameBuilder& raw(Bytes b) {
    append(b);
    return *this;
  }
  FrameBuilder& truncate(std::size_t n) {
    bytes_.resize(n);
    return *this;
  }
  [[nodiscard]] std::size_t size() const { return bytes_.size(); }
  [[nodiscard]] Bytes build() const { return bytes_; }

 private:
  void put16(std::uint16_t v) {
    bytes_.push_back(static_cast<std::uint8_t>(v >> 8));
    bytes_.push_back(static_cast<std::uint8_t>(v & 0xff));
  }
  void put_addr(int family, const char* text) {
    std::uint8_t buf[16] = {};
    inet_pton(family, text, buf);
    bytes_.insert(bytes_.end(), buf, buf + (family == AF_INET ? 4 : 16));
  }
  void append(std::initializer_list<std::uint8_t> b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
  void append(const Bytes& b) { bytes_.insert(bytes_.end(), b.begin(), b.end()); }

  Bytes bytes_;
};

constexpr std::uint16_t kEthIpv4 = 0x0800, kEthIpv6 = 0x86DD, kEthArp = 0x0806, kEth8021Q = 0x8100,
                        kEth8021AD = 0x88A8;
constexpr std::uint8_t kTcpSyn = 0x02, kTcpAck = 0x10, kTcpPsh = 0x08;

}  // namespace podpath::testing

#include "model/flow.hpp"

#include <netinet/in.h>

namespace podpath::model {
namespace {

constexpr std::uint8_t kIcmpEchoReply = 0, kIcmpEchoRequest = 8;
constexpr std::uint8_t kIcmp6EchoRequest = 128, kIcmp6EchoReply = 129;

std::uint16_t reversed_icmp_type_code(std::uint8_t proto, std::uint16_t type_code) {
  const auto type = static_cast<std::uint8_t>(type_code >> 8);
  const auto code = static_cast<std::uint16_t>(type_code & 0xff);
  std::uint8_t rtype = type;
  if (proto == IPPROTO_ICMP) {
    if (type == kIcmpEchoRequest)
      rtype = kIcmpEchoReply;
    else if (type == kIcmpEchoReply)
      rtype = kIcmpEchoRequest;
  } else {
    if (type == kIcmp6EchoRequest)
      rtype = kIcmp6EchoReply;
    else if (type == kIcmp6EchoReply)
      rtype = kIcmp6EchoRequest;
  }
  return static_cast<std::uint16_t>(rtype << 8 | code);
}

}  // namespace

FlowKey FlowKey::reversed() const {
  FlowKey r = *this;
  r.src = dst;
  r.dst = src;
  if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
    r.sport = sport;  // the echo identifier is the same both ways
    r.dport = reversed_icmp_type_code(proto, dport);
  } else {
    r.sport = dport;
    r.dport = sport;
  }
  return r;
}

std::string protocol_name(std::uint8_t proto) {
  switch (proto) {
  case IPPROTO_TCP:
    return "TCP";
  case IPPROTO_UDP:
    return "UDP";
  case IPPROTO_ICMP:
    return "ICMP";
  case IPPROTO_ICMPV6:
    return "ICMPv6";
  case IPPROTO_SCTP:
    return "SCTP";
  default:
    return std::to_string(proto);
  }
}

}  // namespace podpath::model

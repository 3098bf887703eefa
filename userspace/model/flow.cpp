#include "model/flow.hpp"

#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <netinet/in.h>

namespace podpath::model {
namespace {

std::uint16_t reversed_icmp_type_code(const FlowKey& key) {
  const std::uint8_t type = key.icmp_type();
  std::uint8_t rtype = type;
  const std::uint8_t proto = key.proto;
  if (proto == IPPROTO_ICMP) {
    if (type == ICMP_ECHO)
      rtype = ICMP_ECHOREPLY;
    else if (type == ICMP_ECHOREPLY)
      rtype = ICMP_ECHO;
  } else {
    if (type == ICMPV6_ECHO_REQUEST)
      rtype = ICMPV6_ECHO_REPLY;
    else if (type == ICMPV6_ECHO_REPLY)
      rtype = ICMPV6_ECHO_REQUEST;
  }
  return icmp_type_code(rtype, key.icmp_code());
}

}  // namespace

FlowKey FlowKey::reversed() const {
  FlowKey r = *this;
  r.src = dst;
  r.dst = src;
  if (is_icmp()) {
    r.sport = sport;  // the echo identifier is the same both ways
    r.dport = reversed_icmp_type_code(*this);
  } else {
    r.sport = dport;
    r.dport = sport;
  }
  return r;
}

bool FlowKey::is_icmp() const { return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6; }

bool FlowKey::is_echo_request() const {
  return (proto == IPPROTO_ICMP && icmp_type() == ICMP_ECHO) ||
         (proto == IPPROTO_ICMPV6 && icmp_type() == ICMPV6_ECHO_REQUEST);
}

bool FlowKey::is_echo_reply() const {
  return (proto == IPPROTO_ICMP && icmp_type() == ICMP_ECHOREPLY) ||
         (proto == IPPROTO_ICMPV6 && icmp_type() == ICMPV6_ECHO_REPLY);
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

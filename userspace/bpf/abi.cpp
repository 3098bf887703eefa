#include "bpf/abi.hpp"

#include <cstring>

namespace podpath::bpf {

model::FlowKey from_abi(const pp_flow_key& key) {
  model::FlowKey k;
  std::memcpy(k.src.bytes.data(), key.saddr, 16);
  std::memcpy(k.dst.bytes.data(), key.daddr, 16);
  k.sport = key.sport;
  k.dport = key.dport;
  k.proto = key.proto;
  k.fragment = (key.flags & PP_KEY_F_FRAGMENT) != 0;
  k.v4_mapped_ipv6 = (key.flags & PP_KEY_F_IPV6) != 0 && k.src.is_v4() && k.dst.is_v4();
  return k;
}

pp_flow_key to_abi(const model::FlowKey& key) {
  pp_flow_key k{};
  std::memcpy(k.saddr, key.src.bytes.data(), 16);
  std::memcpy(k.daddr, key.dst.bytes.data(), 16);
  k.sport = key.sport;
  k.dport = key.dport;
  k.proto = key.proto;
  const bool ipv6 = key.v4_mapped_ipv6 || !key.src.is_v4() || !key.dst.is_v4();
  k.flags = static_cast<__u8>((key.fragment ? PP_KEY_F_FRAGMENT : 0) | (ipv6 ? PP_KEY_F_IPV6 : 0));
  return k;
}

pp_cidr_key to_abi(const model::Cidr& cidr) {
  pp_cidr_key k{};
  k.prefixlen = cidr.prefix_len128();
  std::memcpy(k.addr, cidr.network.bytes.data(), 16);
  return k;
}

}  // namespace podpath::bpf

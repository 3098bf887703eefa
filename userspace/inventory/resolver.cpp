#include "inventory/resolver.hpp"

namespace podpath::inventory {

Endpoint Resolver::resolve(const model::IpAddress& ip) const {
  Endpoint e;
  e.ip = ip;
  e.name = ip.to_string();
  const CidrEntry* cidr = cidrs_.lookup(ip);
  e.cidr = cidr != nullptr ? cidr->label : "other";
  e.cidr_id = cidr != nullptr ? cidr->id : kCidrOther;

  const model::Cluster& cluster = *cluster_;
  if (const model::Pod* pod = cluster.find_pod_by_ip(ip)) {
    e.kind = EndpointKind::Pod;
    e.pod = std::shared_ptr<const model::Pod>(cluster_, pod);  // aliasing: owns the snapshot
    e.name = pod->ns.empty() ? pod->name : pod->full_name();
    e.node = pod->node;
    return e;
  }
  for (const auto& node : cluster.nodes) {
    if (node.underlay_ip == ip || node.bridge_ip == ip) {
      e.kind = EndpointKind::Node;
      e.name = node.name;
      e.node = node.name;
      return e;
    }
  }
  if (cluster.gateway && cluster.gateway->ip == ip) {
    e.kind = EndpointKind::Gateway;
    e.name = cluster.gateway->name.empty() ? "gateway" : cluster.gateway->name;
    return e;
  }
  if (cidr != nullptr && cidr->kind == CidrKind::PodCidr) {
    e.kind = EndpointKind::Pod;
    e.name = "unknown pod";
    e.node = cidr->node;
    return e;
  }
  if (cidr != nullptr && cidr->kind == CidrKind::Services) {
    e.kind = EndpointKind::Service;
    return e;
  }
  e.kind = EndpointKind::External;
  return e;
}

}  // namespace podpath::inventory

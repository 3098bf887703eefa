#include "inventory/resolver.hpp"

#include "util/system.hpp"

namespace podpath::inventory {

Resolver::Resolver(model::ClusterSnapshot cluster, const CidrTable& cidrs, const kube::PodIndex* history,
                   ResolverClocks clocks)
    : cluster_(std::move(cluster)), cidrs_(cidrs), history_(history), clocks_(std::move(clocks)) {
  if (!clocks_.monotonic_ns) clocks_.monotonic_ns = [] { return monotonic_ns(); };
  if (history_ != nullptr) {
    for (const auto& p : cluster_->pods) {
      if (!p.uid.empty()) by_uid_.emplace(p.uid, &p);
    }
  }
}

flows::NatExplanation Resolver::explain_nat(const model::NatRecord& nat) const {
  flows::NatExplanation why;
  const model::Service* svc = cluster_->find_service(nat.original.dst, nat.original.dport);
  if (svc == nullptr) return why;
  why.service = svc->full_name();
  if (const model::ServiceBackend* b = svc->backend(nat.reply.src)) why.rule = b->rule;
  return why;
}

Endpoint Resolver::resolve(const model::IpAddress& ip) const { return resolve_when(ip, clocks_.wall()); }

Endpoint Resolver::resolve_at(const model::IpAddress& ip, std::uint64_t first_seen_ns) const {
  const kube::Time now = clocks_.wall();
  if (history_ == nullptr || first_seen_ns == 0) return resolve_when(ip, now);
  const std::uint64_t mono = clocks_.monotonic_ns();
  const auto age = std::chrono::nanoseconds(mono > first_seen_ns ? mono - first_seen_ns : 0);
  return resolve_when(ip, now - std::chrono::duration_cast<kube::Time::duration>(age));
}

std::shared_ptr<const model::Pod> Resolver::model_pod(const kube::Pod& pod) const {
  if (const auto it = by_uid_.find(pod.uid); it != by_uid_.end()) {
    return std::shared_ptr<const model::Pod>(cluster_, it->second);  // aliasing: owns the snapshot
  }
  // Gone from the snapshot: a copy of its own, which its endpoints keep alive.
  auto [it, inserted] = departed_.try_emplace(pod.uid);
  if (inserted) it->second = std::make_shared<const model::Pod>(kube::to_model_pod(pod));
  return it->second;
}

Endpoint Resolver::resolve_when(const model::IpAddress& ip, kube::Time when) const {
  Endpoint e;
  e.ip = ip;
  e.name = ip.to_string();
  const CidrEntry* cidr = cidrs_.lookup(ip);
  e.cidr = cidr != nullptr ? cidr->label : "other";
  e.cidr_id = cidr != nullptr ? cidr->id : kCidrOther;

  const model::Cluster& cluster = *cluster_;
  if (history_ != nullptr) {
    const kube::PodLookup found = history_->lookup(ip, when, clocks_.wall());
    if (found.kind == kube::PodLookup::Kind::Ambiguous) {
      e.kind = EndpointKind::Pod;
      e.name = "ambiguous:";
      for (std::size_t i = 0; i < found.claims.size(); ++i) {
        e.candidates.push_back(found.claims[i]->full_name());
        e.name += (i == 0 ? " " : " | ") + found.claims[i]->full_name();
        // The node, when every claimant runs on the same one.
        e.node = i == 0 || e.node == found.claims[i]->node ? found.claims[i]->node : std::string();
      }
      if (e.node.empty() && cidr != nullptr) e.node = cidr->node;
      return e;
    }
    if (found.kind == kube::PodLookup::Kind::Pod) {
      e.kind = EndpointKind::Pod;
      e.pod = model_pod(*found.pod);
      e.name = e.pod->full_name();
      e.node = e.pod->node;
      e.departed = found.tombstone;
      return e;
    }
  } else if (const model::Pod* pod = cluster.find_pod_by_ip(ip)) {
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
  if (const model::Service* svc = cluster.find_service(ip)) {
    e.kind = EndpointKind::Service;
    e.name = svc->full_name();
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

#include "model/cluster.hpp"

#include <algorithm>

namespace podpath::model {

const Node* Cluster::find_node(std::string_view name) const {
  const auto it = std::find_if(nodes.begin(), nodes.end(), [&](const Node& n) { return n.name == name; });
  return it == nodes.end() ? nullptr : &*it;
}

const Pod* Cluster::find_pod(std::string_view name) const {
  const bool qualified = name.find('/') != std::string_view::npos;
  const auto it = std::find_if(pods.begin(), pods.end(), [&](const Pod& p) {
    return qualified ? p.full_name() == name : p.name == name;
  });
  return it == pods.end() ? nullptr : &*it;
}

const Pod* Cluster::find_pod_by_ip(const IpAddress& ip) const {
  const auto it = std::find_if(pods.begin(), pods.end(), [&](const Pod& p) { return p.ip == ip; });
  return it == pods.end() ? nullptr : &*it;
}

const ServiceBackend* Service::backend(const IpAddress& ip) const {
  for (const auto& b : backends) {
    if (b.ip == ip) return &b;
  }
  return nullptr;
}

const Service* Cluster::find_service(const IpAddress& cluster_ip, std::uint16_t port) const {
  for (const auto& s : services) {
    if (s.cluster_ip == cluster_ip && (port == 0 || s.port == port)) return &s;
  }
  return nullptr;
}

const Service* Cluster::find_service(std::string_view name) const {
  for (const auto& s : services) {
    if (s.full_name() == name || s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace podpath::model

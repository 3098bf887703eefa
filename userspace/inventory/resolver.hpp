#pragma once
/// @file
/// @brief Resolves addresses to pods, nodes, the gateway, services or external hosts,
/// from a cluster inventory and its CIDR table.

#include "flows/endpoint.hpp"
#include "inventory/cidrs.hpp"
#include "model/cluster.hpp"

namespace podpath::inventory {

using flows::Endpoint;
using flows::EndpointKind;

/// @brief Resolves against a Cluster and a CidrTable. Both are referenced, not copied:
/// they must outlive the resolver, and Endpoint::pod points into the cluster.
class Resolver final : public flows::EndpointResolver {
 public:
  Resolver(const model::Cluster& cluster, const CidrTable& cidrs) : cluster_(cluster), cidrs_(cidrs) {}

  /// @brief In order: a pod's IP; a node's underlay or bridge address; the gateway; an
  /// address in a node's pod CIDR that no known pod holds (kind Pod, name "unknown pod");
  /// the service CIDR; anything else is External. Every endpoint carries its CIDR label.
  [[nodiscard]] Endpoint resolve(const model::IpAddress& ip) const override;

 private:
  const model::Cluster& cluster_;
  const CidrTable& cidrs_;
};

}  // namespace podpath::inventory

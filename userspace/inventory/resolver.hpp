#pragma once
/// @file
/// @brief Resolves addresses to pods, nodes, the gateway, services or external hosts,
/// from a cluster inventory and its CIDR table.

#include <utility>

#include "flows/endpoint.hpp"
#include "inventory/cidrs.hpp"
#include "model/cluster.hpp"

namespace podpath::inventory {

using flows::Endpoint;
using flows::EndpointKind;

/// @brief Resolves against a cluster snapshot and a CidrTable. The snapshot is shared with
/// every Endpoint::pod the resolver hands out; the CidrTable is referenced and must outlive
/// the resolver (endpoints copy what they need of it).
class Resolver final : public flows::EndpointResolver {
 public:
  Resolver(model::ClusterSnapshot cluster, const CidrTable& cidrs)
      : cluster_(std::move(cluster)), cidrs_(cidrs) {}

  /// @brief In order: a pod's IP; a node's underlay or bridge address; the gateway; an
  /// address in a node's pod CIDR that no known pod holds (kind Pod, name "unknown pod");
  /// the service CIDR; anything else is External. Every endpoint carries its CIDR label.
  [[nodiscard]] Endpoint resolve(const model::IpAddress& ip) const override;

 private:
  model::ClusterSnapshot cluster_;
  const CidrTable& cidrs_;
};

}  // namespace podpath::inventory

#pragma once
/// @file
/// @brief Resolves addresses to pods, nodes, the gateway, services or external hosts,
/// from a cluster inventory and its CIDR table, and (Kubernetes API source) by the time a
/// flow was first seen, from the pod index's history.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>

#include "flows/endpoint.hpp"
#include "inventory/cidrs.hpp"
#include "kube/pod_index.hpp"
#include "model/cluster.hpp"

namespace podpath::inventory {

using flows::Endpoint;
using flows::EndpointKind;

/// @brief The clocks a time-aware resolver converts flow times with: the flows' monotonic
/// clock (ns, as the BPF programs stamp first_seen) and the wall clock (creation and
/// deletion times of pods). Replaceable in tests.
struct ResolverClocks {
  std::function<std::uint64_t()> monotonic_ns;
  std::function<kube::Time()> wall = [] { return std::chrono::system_clock::now(); };
};

/// @brief Resolves against a Cluster and a CidrTable, and optionally a pod history. All are
/// referenced, not copied: they must outlive the resolver, and Endpoint::pod points into
/// the cluster (or into the resolver, for a pod that has departed since).
class Resolver final : public flows::EndpointResolver {
 public:
  Resolver(const model::Cluster& cluster, const CidrTable& cidrs, const kube::PodIndex* history = nullptr,
           ResolverClocks clocks = {});

  /// @brief In order: a pod's IP; a node's underlay or bridge address; the gateway; an
  /// address in a node's pod CIDR that no known pod holds (kind Pod, name "unknown pod");
  /// the service CIDR; anything else is External. Every endpoint carries its CIDR label.
  /// With a history, "a pod's IP" means: the pod that held it now.
  [[nodiscard]] Endpoint resolve(const model::IpAddress& ip) const override;
  /// @brief As resolve(), but with a history the pod is the one that held `ip` when the
  /// flow was first seen: the pod created last at or before then (a deleted one is kept
  /// for the grace period, marked departed); two live pods claiming it make it ambiguous.
  [[nodiscard]] Endpoint resolve_at(const model::IpAddress& ip, std::uint64_t first_seen_ns) const override;

 private:
  [[nodiscard]] Endpoint resolve_when(const model::IpAddress& ip, kube::Time when) const;
  [[nodiscard]] const model::Pod* model_pod(const kube::Pod& pod) const;

  const model::Cluster& cluster_;
  const CidrTable& cidrs_;
  const kube::PodIndex* history_;
  ResolverClocks clocks_;
  std::unordered_map<std::string, const model::Pod*> by_uid_;
  mutable std::map<std::string, model::Pod> departed_;  ///< pods no longer in the cluster, by UID
};

}  // namespace podpath::inventory

#pragma once
/// @file
/// @brief Resolves addresses to pods, nodes, the gateway, services or external hosts,
/// from a cluster inventory and its CIDR table, and (Kubernetes API source) by the time a
/// flow was first seen, from the pod index's history.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

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

/// @brief Resolves against a cluster snapshot and a CidrTable, and optionally a pod
/// history. The snapshot is shared with every Endpoint::pod the resolver hands out; a pod
/// that has departed from the snapshot since (history only) is handed out as a copy of its
/// own, shared too. The CidrTable and the history are referenced and must outlive the
/// resolver (endpoints copy what they need of them).
class Resolver final : public flows::EndpointResolver {
 public:
  Resolver(model::ClusterSnapshot cluster, const CidrTable& cidrs, const kube::PodIndex* history = nullptr,
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
  /// @brief With a history.
  [[nodiscard]] bool resolves_by_time() const override { return history_ != nullptr; }
  /// @brief The Service whose ClusterIP and port the translation's original destination is,
  /// and the rule of the backend it picked (the reply's source).
  [[nodiscard]] flows::NatExplanation explain_nat(const model::NatRecord& nat) const override;

 private:
  [[nodiscard]] Endpoint resolve_when(const model::IpAddress& ip, kube::Time when) const;
  [[nodiscard]] std::shared_ptr<const model::Pod> model_pod(const kube::Pod& pod) const;

  model::ClusterSnapshot cluster_;
  const CidrTable& cidrs_;
  const kube::PodIndex* history_;
  ResolverClocks clocks_;
  std::unordered_map<std::string, const model::Pod*> by_uid_;  ///< into the snapshot
  /// Pods no longer in the snapshot, by UID: made once, then shared with their endpoints.
  mutable std::map<std::string, std::shared_ptr<const model::Pod>> departed_;
};

}  // namespace podpath::inventory

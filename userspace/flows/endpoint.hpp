#pragma once
/// @file
/// @brief Who an address is: a pod, a node, the gateway, a service or something outside
/// the cluster. The flows layer only needs this interface; inventory/resolver.hpp
/// implements it from an inventory (lab file, local discovery, Kubernetes API).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/address.hpp"
#include "model/cluster.hpp"
#include "model/flow.hpp"

namespace podpath::flows {

/// @brief What kind of thing an address belongs to.
enum class EndpointKind { Pod, Node, Gateway, Service, External };

/// @brief "pod", "node", "gateway", "service", "external" (stable: used in JSON).
const char* to_string(EndpointKind kind);

/// @brief One resolved address.
struct Endpoint {
  EndpointKind kind = EndpointKind::External;
  model::IpAddress ip;
  /// @brief Display name: "default/web-7d4b9-x2k4q", "node1", "gateway", the IP for a
  /// service or an external address, "unknown pod" for a pod-CIDR address no pod holds.
  std::string name;
  std::string node;  ///< node the address lives on (pods, nodes); empty otherwise
  /// @brief The pod, when kind == Pod and it is known. It shares ownership of the cluster
  /// snapshot it was resolved in (or, for a pod that has departed since, of its own copy),
  /// so it stays valid when the inventory is reloaded.
  std::shared_ptr<const model::Pod> pod;
  std::string cidr;           ///< label of the CIDR it belongs to ("node1 pods"); "other" if none
  std::uint16_t cidr_id = 0;  ///< id of that CIDR (0 = other)
  /// @brief The pod has been deleted (or finished) since: its name is kept for a grace
  /// period (Kubernetes API source).
  bool departed = false;
  /// @brief Several live pods claim the address: their names, and no pod is guessed
  /// (name "ambiguous: a | b").
  std::vector<std::string> candidates;

  /// @brief The host-side veth of the pod; empty if unknown or not a pod.
  [[nodiscard]] std::string veth() const { return pod != nullptr ? pod->veth : std::string(); }
};

/// @brief Who made a NAT translation: the Service whose ClusterIP was translated and
/// kube-proxy's rule that picked the backend (either may be empty when unknown).
struct NatExplanation {
  std::string service;  ///< "default/web"
  std::string rule;     ///< "KUBE-SEP-..." (iptables mode)
};

/// @brief Turns addresses into endpoints.
class EndpointResolver {
 public:
  /// @brief The Service and rule behind a translation; sources without Services know neither.
  [[nodiscard]] virtual NatExplanation explain_nat(const model::NatRecord& nat) const {
    (void)nat;
    return {};
  }
  virtual ~EndpointResolver() = default;
  /// @brief Never fails: an unknown address is External.
  [[nodiscard]] virtual Endpoint resolve(const model::IpAddress& ip) const = 0;
  /// @brief Who held `ip` when a flow was first seen (`first_seen_ns`, the flows' monotonic
  /// clock): an address reused by another pod since resolves to the pod of that time.
  /// Sources without history answer as resolve().
  [[nodiscard]] virtual Endpoint resolve_at(const model::IpAddress& ip, std::uint64_t first_seen_ns) const {
    (void)first_seen_ns;
    return resolve(ip);
  }
  /// @brief True when resolve_at() depends on the time (a source with history): an
  /// address's endpoint can then differ from flow to flow and may not be cached by address.
  [[nodiscard]] virtual bool resolves_by_time() const { return false; }
};

}  // namespace podpath::flows

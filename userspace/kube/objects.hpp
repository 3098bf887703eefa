#pragma once
/// @file
/// @brief The parts of Kubernetes v1 Pod and Node objects podpath uses, as plain data, and
/// their conversion to model::Pod / model::Node for the inventory layer.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/address.hpp"
#include "model/cluster.hpp"
#include "util/result.hpp"

namespace podpath::kube {

using Time = std::chrono::system_clock::time_point;

/// @brief One container of a pod, from status.containerStatuses (or initContainerStatuses).
struct Container {
  std::string name;
  std::string id;       ///< runtime id without its prefix ("3f2a..."); empty before it starts
  std::string runtime;  ///< "containerd", "docker", "cri-o"; empty with id
  bool ready = false;
  bool init = false;  ///< an init container
  int restarts = 0;

  bool operator==(const Container&) const = default;
};

/// @brief A v1 Pod, reduced.
struct Pod {
  std::string uid;
  std::string ns;
  std::string name;
  std::string resource_version;
  Time created{};            ///< metadata.creationTimestamp (one-second resolution)
  bool terminating = false;  ///< metadata.deletionTimestamp is set
  std::map<std::string, std::string> labels;
  std::string node;  ///< spec.nodeName; empty while unscheduled
  bool host_network = false;
  std::string phase;                  ///< Pending, Running, Succeeded, Failed, Unknown
  std::vector<model::IpAddress> ips;  ///< status.podIPs, else status.podIP; primary first
  std::optional<model::IpAddress> host_ip;
  std::vector<std::string> spec_containers;  ///< spec.containers[].name
  std::vector<Container> containers;         ///< from the status, init containers last

  /// @brief "namespace/name".
  [[nodiscard]] std::string full_name() const { return ns + "/" + name; }
  /// @brief Holds its IPs: not hostNetwork (those carry the node's IP) and not finished
  /// (Succeeded/Failed pods keep an IP that is free for reuse).
  [[nodiscard]] bool claims_ips() const;
  bool operator==(const Pod&) const = default;
};

/// @brief A v1 Node, reduced.
struct Node {
  std::string uid;
  std::string name;
  std::string resource_version;
  std::optional<model::IpAddress> internal_ip;  ///< status.addresses[type=InternalIP], first
  std::vector<model::Cidr> pod_cidrs;           ///< spec.podCIDRs, else spec.podCIDR
  bool ready = false;                           ///< condition Ready is True

  bool operator==(const Node&) const = default;
};

/// @brief Parses a v1 Pod object. Errors name the field ("pod default/web: status.podIP
/// is not an IP address: 'x'").
Result<Pod> parse_pod(const nlohmann::json& object);
/// @brief Parses a v1 Node object.
Result<Node> parse_node(const nlohmann::json& object);

/// @brief RFC 3339 UTC ("2026-11-26T03:30:00Z", fractions allowed); nullopt otherwise.
std::optional<Time> parse_rfc3339(std::string_view text);

/// @brief "containerd://3f2a..." -> {"containerd", "3f2a..."}; no "://" -> {"", text}.
std::pair<std::string, std::string> split_container_id(std::string_view text);

/// @brief As model::Pod: ns, name, uid, node, the primary IP and the containers (name,
/// id). Interface, namespace and cgroup fields stay empty: the API does not know them.
model::Pod to_model_pod(const Pod& pod);
/// @brief As model::Node: name, InternalIP as the underlay IP, the first pod CIDR of the
/// InternalIP's family (else the first). The bridge address stays unset.
model::Node to_model_node(const Node& node);

}  // namespace podpath::kube

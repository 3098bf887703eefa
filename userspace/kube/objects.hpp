#pragma once
/// @file
/// @brief The parts of Kubernetes v1 Pod, Node and Service and discovery.k8s.io/v1
/// EndpointSlice objects podpath uses, as plain data, and their conversion to model::Pod /
/// model::Node / model::Service for the inventory layer.

#include <chrono>
#include <cstdint>
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

/// @brief One port of a Service (spec.ports[]).
struct ServicePort {
  std::string name;      ///< may be empty on a single-port Service
  std::string protocol;  ///< "TCP", "UDP", "SCTP"; "TCP" when absent
  std::uint16_t port = 0;
  std::uint16_t target_number = 0;  ///< targetPort as a number; 0 when named (or absent: = port)
  std::string target_name;          ///< targetPort as a name (a container port's name)

  bool operator==(const ServicePort&) const = default;
};

/// @brief A v1 Service, reduced.
struct Service {
  std::string uid;
  std::string ns;
  std::string name;
  std::string resource_version;
  std::string type;                            ///< spec.type; "ClusterIP" when absent
  std::optional<model::IpAddress> cluster_ip;  ///< spec.clusterIP; nullopt when headless ("None") or unset
  std::vector<ServicePort> ports;

  [[nodiscard]] std::string full_name() const { return ns + "/" + name; }
  /// @brief What kube-proxy gives a ClusterIP: any type but ExternalName, with a clusterIP.
  [[nodiscard]] bool has_cluster_ip() const { return type != "ExternalName" && cluster_ip.has_value(); }
  bool operator==(const Service&) const = default;
};

/// @brief One endpoint of an EndpointSlice.
struct Endpoint {
  std::vector<model::IpAddress> addresses;  ///< kube-proxy uses the first
  bool ready = true;                        ///< conditions.ready; absent counts as ready
  std::string node;                         ///< nodeName
  std::string pod;                          ///< targetRef of kind Pod: "namespace/name"; else empty

  bool operator==(const Endpoint&) const = default;
};

/// @brief One port of an EndpointSlice: the backends' port for the Service port of that name.
struct EndpointPort {
  std::string name;
  std::string protocol;               ///< "TCP" when absent
  std::optional<std::uint16_t> port;  ///< unset: "all ports" (no Service port can use it)

  bool operator==(const EndpointPort&) const = default;
};

/// @brief A discovery.k8s.io/v1 EndpointSlice, reduced.
struct EndpointSlice {
  std::string uid;
  std::string ns;
  std::string name;
  std::string resource_version;
  std::string service;       ///< label kubernetes.io/service-name; empty: no Service's
  std::string address_type;  ///< "IPv4", "IPv6", "FQDN"
  std::vector<Endpoint> endpoints;
  std::vector<EndpointPort> ports;

  bool operator==(const EndpointSlice&) const = default;
};

/// @brief The label that ties an EndpointSlice to its Service.
inline constexpr const char* kServiceNameLabel = "kubernetes.io/service-name";

/// @brief Parses a v1 Pod object. Errors name the field ("pod default/web: status.podIP
/// is not an IP address: 'x'").
Result<Pod> parse_pod(const nlohmann::json& object);
/// @brief Parses a v1 Node object.
Result<Node> parse_node(const nlohmann::json& object);
/// @brief Parses a v1 Service object (any type: has_cluster_ip() tells the ones kube-proxy serves).
Result<Service> parse_service(const nlohmann::json& object);
/// @brief Parses a discovery.k8s.io/v1 EndpointSlice object.
Result<EndpointSlice> parse_endpointslice(const nlohmann::json& object);

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

/// @brief kube-proxy's (iptables mode) chain of a Service port: "KUBE-SVC-" and the first 16
/// characters of the base32 of SHA-256("ns/name:portname" + protocol in lower case); no
/// ":portname" when the port has no name.
std::string kube_proxy_service_chain(const Service& service, const ServicePort& port);
/// @brief kube-proxy's chain of one endpoint of it: "KUBE-SEP-" and the same hash of
/// "ns/name:portname" + protocol + "IP:PORT" (IPv6 in brackets).
std::string kube_proxy_endpoint_chain(const Service& service, const ServicePort& port,
                                      const model::IpAddress& ip, std::uint16_t target_port);

/// @brief The model's Services (one per TCP or UDP port of each Service with a ClusterIP,
/// as kube-proxy programs them), sorted by namespace/name and port. A port's backends are
/// the ready endpoints (first address) of the Service's EndpointSlices (same namespace,
/// label kubernetes.io/service-name) of the ClusterIP's family that carry a port of the
/// same name and protocol; its target port is that port's number, else a numeric
/// targetPort, else 0 (a named targetPort without endpoints). Each backend appears once.
std::vector<model::Service> to_model_services(const std::vector<const Service*>& services,
                                              const std::vector<const EndpointSlice*>& slices);

}  // namespace podpath::kube

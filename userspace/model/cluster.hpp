#pragma once
/// @file
/// @brief Who is who in a cluster: nodes, pods, containers, the gateway. Plain data,
/// filled by the inventory sources (lab file, local discovery, Kubernetes API).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/address.hpp"

namespace podpath::model {

/// @brief One container of a pod.
struct Container {
  std::string name;
  std::string id;               ///< runtime id (64 hex digits)
  std::string cgroup_path;      ///< absolute cgroup v2 directory
  std::uint64_t cgroup_id = 0;  ///< cgroup v2 id (inode of cgroup_path)
  int pid = 0;                  ///< main process, root PID namespace; 0 if unknown
  std::string command;
  /// @brief Readiness as the Kubernetes API reports it (containerStatuses[].ready); nullopt
  /// where the source has none (lab file, local discovery).
  std::optional<bool> ready;
  bool init = false;  ///< an init container (Kubernetes API): READY leaves it out, as kubectl does

  bool operator==(const Container&) const = default;
};

/// @brief A pod: one IP, one network namespace, one host-side veth.
struct Pod {
  std::string ns;    ///< Kubernetes namespace ("default")
  std::string name;  ///< pod name
  std::string uid;
  std::string node;  ///< name of the node it runs on
  IpAddress ip;
  std::string netns;       ///< network namespace name (lab) or path; empty if unknown
  std::string veth;        ///< host-side veth name on the node; empty if unknown
  std::string sandbox_id;  ///< CNI container id
  std::vector<Container> containers;

  /// @brief "namespace/name".
  [[nodiscard]] std::string full_name() const { return ns + "/" + name; }
  bool operator==(const Pod&) const = default;
};

/// @brief Role -> interface name inside the node's network namespace.
struct NodeInterfaces {
  std::string uplink = "eth0";
  std::string bridge = "cbr0";
  std::string docker;  ///< empty when absent

  bool operator==(const NodeInterfaces&) const = default;
};

/// @brief A Kubernetes node with its own pod CIDR.
struct Node {
  std::string name;
  std::string netns;  ///< network namespace name; empty = the current (host) namespace
  IpAddress underlay_ip;
  Cidr pod_cidr;
  IpAddress bridge_ip;
  NodeInterfaces interfaces;

  bool operator==(const Node&) const = default;
};

/// @brief A route of the underlay router: dst via next hop.
struct GatewayRoute {
  Cidr dst;
  IpAddress via;

  bool operator==(const GatewayRoute&) const = default;
};

/// @brief The underlay's router (the seed's 10.0.0.1, a cloud VPC router).
struct Gateway {
  std::string name;
  std::string netns;
  IpAddress ip;
  std::string interface;
  std::vector<GatewayRoute> routes;

  bool operator==(const Gateway&) const = default;
};

/// @brief One endpoint of a Service, as kube-proxy programs it.
struct ServiceBackend {
  std::string pod;  ///< "namespace/name" of the pod behind it; empty if unknown
  IpAddress ip;
  std::string node;
  std::string rule;  ///< kube-proxy's chain for it (iptables mode: KUBE-SEP-...); empty if unknown

  bool operator==(const ServiceBackend&) const = default;
};

/// @brief A Service of type ClusterIP with one port.
struct Service {
  std::string ns;
  std::string name;
  IpAddress cluster_ip;
  std::uint8_t proto = 0;  ///< IPPROTO_TCP or IPPROTO_UDP
  std::uint16_t port = 0;
  std::uint16_t target_port = 0;
  std::string rule;  ///< kube-proxy's chain for the port (KUBE-SVC-...); empty if unknown
  std::vector<ServiceBackend> backends;

  [[nodiscard]] std::string full_name() const { return ns + "/" + name; }
  /// @brief The backend with this address, or nullptr.
  [[nodiscard]] const ServiceBackend* backend(const IpAddress& ip) const;
  bool operator==(const Service&) const = default;
};

/// @brief Everything an inventory source knows.
struct Cluster {
  std::string lab;      ///< lab prefix; empty for a real cluster
  std::string created;  ///< RFC 3339, lab only
  std::string data_dir;
  std::string cgroup_root;
  std::optional<Cidr> underlay;
  std::optional<Gateway> gateway;
  std::vector<Node> nodes;
  std::vector<Pod> pods;
  std::optional<Cidr> service_cidr;  ///< where ClusterIPs come from; unset if unknown
  std::vector<Service> services;

  [[nodiscard]] const Node* find_node(std::string_view name) const;
  /// @brief The Service with this ClusterIP (and port, if non-zero), or nullptr.
  [[nodiscard]] const Service* find_service(const IpAddress& cluster_ip, std::uint16_t port = 0) const;
  /// @brief By "ns/name" or bare name (first match), or nullptr.
  [[nodiscard]] const Service* find_service(std::string_view name) const;
  /// @brief By "ns/name" or bare name (first match).
  [[nodiscard]] const Pod* find_pod(std::string_view name) const;
  [[nodiscard]] const Pod* find_pod_by_ip(const IpAddress& ip) const;

  bool operator==(const Cluster&) const = default;
};

/// @brief A cluster as loaded at one moment, never changed afterwards, shared by everything
/// that points into it (a resolved endpoint's pod, a check's evidence). A reload makes a
/// new snapshot; the old one lives as long as something still uses it.
using ClusterSnapshot = std::shared_ptr<const Cluster>;

}  // namespace podpath::model

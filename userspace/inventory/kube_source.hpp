#pragma once
/// @file
/// @brief The Kubernetes API as an inventory source: the informers' pods, nodes, Services
/// and EndpointSlices turned into the cluster model, the node this process runs on, and the pods of that node
/// located on this host (network namespace, host-side veth, container cgroups).

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "inventory/cgroup_path.hpp"
#include "inventory/local_discovery.hpp"
#include "kube/config.hpp"
#include "kube/informer.hpp"
#include "kube/pod_index.hpp"
#include "model/cluster.hpp"
#include "net/links.hpp"
#include "util/result.hpp"

namespace podpath::inventory {

/// @brief The user's choices for the API source.
struct KubeSourceOptions {
  std::optional<std::filesystem::path>
      kubeconfig;                      ///< --kubeconfig; else $KUBECONFIG, in-cluster, ~/.kube/config
  std::chrono::seconds pod_grace{60};  ///< --pod-grace: how long a deleted pod stays resolvable
  std::optional<std::string> node;     ///< --node: the node this process runs on
  kube::Getenv getenv = kube::process_getenv;
  std::filesystem::path service_account_dir = std::filesystem::path(kube::kServiceAccountDir);
  /// @brief How long the first list may take while the server is unreachable (retried
  /// meanwhile); 401, 403 and TLS failures end the wait at once.
  std::chrono::milliseconds start_timeout{10'000};
  /// @brief Replaces libcurl (tests); empty = libcurl with the configuration found.
  kube::TransportFactory transports;
  kube::InformerOptions informer;  ///< server is filled in from the configuration
};

/// @brief What this host is: the facts its node is recognised by.
struct HostIdentity {
  std::string hostname;
  std::vector<model::IpAddress> addresses;  ///< every address of every interface of the host namespace
};

/// @brief This host's name and addresses (host network namespace).
HostIdentity this_host();

/// @brief The node this host is: the one `hint` (--node) names, else the one named like
/// the host, else the one whose InternalIP is an address of the host. "" when none is;
/// an error when `hint` names no node.
Result<std::string> find_own_node(const kube::NodeIndex& nodes, const std::optional<std::string>& hint,
                                  const HostIdentity& host);

/// @brief What is known about this host beyond the API: its local discovery (bridge,
/// uplink, gateway), its links, and where its pods live.
struct HostFacts {
  std::optional<LocalDiscovery> discovery;          ///< nullopt when discovery failed
  std::map<std::string, std::string> pod_netns;     ///< pod UID -> network namespace (name or path)
  std::map<std::string, std::string> pod_veth;      ///< pod UID -> host-side veth
  std::map<std::string, DiscoveredCgroup> cgroups;  ///< container id -> its cgroup
};

/// @brief The names in a pod, node, Service or EndpointSlice from the API are others'
/// choices, held to the rules of an inventory's (inventory/validate.hpp): a pod's namespace,
/// name and node, its containers' names and ids, a node's name, a Service's namespace and
/// name, a slice's namespace, name and its endpoints' nodes and pods. The error is one line naming the object
/// and the field, safe to show (printable()). Other changes pass.
Result<void> check_api_names(const kube::Change& change);

/// @brief The cluster the API describes, from the informers' indexes (pure):
/// - every node, with its InternalIP and pod CIDR; `own_node` (this host) runs in the host
///   namespace and takes bridge, uplink, bridge address, underlay and gateway from
///   `host.discovery` when there is one;
/// - every pod that holds an address now: not hostNetwork (they carry the node's IP), not
///   Succeeded or Failed (their IP is free), not without an IP yet; with its containers
///   (ids from containerStatuses), and for pods of `own_node` the namespace, veth and
///   container cgroups found on this host;
/// - every Service with a ClusterIP, one per TCP/UDP port, with its ready endpoints as
///   backends and kube-proxy's chain names (kube::to_model_services).
model::Cluster cluster_from_kube(const kube::NodeIndex& nodes, const kube::PodIndex& pods,
                                 const std::string& own_node, const HostFacts& host,
                                 const kube::ServiceIndex& services = kube::ServiceIndex{});

/// @brief The network namespace and host-side veth of a pod of this node: the namespace of
/// one of its containers' processes that holds the pod IP, and the veth whose peer is the
/// interface holding it there. nullopt when no container process is found (yet).
struct PodPlace {
  std::string netns;  ///< a /run/netns name when one is this namespace, else /proc/PID/ns/net
  std::string veth;   ///< empty when the peer is not a veth of the host namespace
};
std::optional<PodPlace> locate_pod(const model::Pod& pod, const std::vector<net::Link>& host_links);

/// @brief The Kubernetes API source: informers for pods, nodes, Services and EndpointSlices
/// on their own threads, the
/// indexes they feed (on the caller's thread), and the cluster built from them.
class KubeSource {
 public:
  /// @brief Starts the informers and waits for the first full list of each resource.
  /// Fails with the informer's one line (401, 403 with the RBAC hint, TLS, unreachable
  /// after `start_timeout`).
  static Result<std::unique_ptr<KubeSource>> connect(const KubeSourceOptions& options,
                                                     const kube::ClusterConfig& config);
  ~KubeSource();
  KubeSource(const KubeSource&) = delete;
  KubeSource& operator=(const KubeSource&) = delete;

  /// @brief Readable when changes wait; poll it, then call poll().
  [[nodiscard]] int fd() const;
  /// @brief Takes the informers' changes into the indexes (never blocks). True when the
  /// cluster changed; its health (an outage, a recovery) is kept, and logged by the informers.
  bool poll(kube::Time now);
  /// @brief The cluster as of the last poll(): pods of this node located on this host
  /// (each located once; new pods as they come).
  model::Cluster cluster();

  [[nodiscard]] const kube::PodIndex& pods() const { return pods_; }
  [[nodiscard]] const kube::NodeIndex& nodes() const { return nodes_; }
  [[nodiscard]] const kube::ServiceIndex& services() const { return services_; }
  /// @brief The node this host is; "" when it is none of them.
  [[nodiscard]] const std::string& own_node() const { return own_node_; }
  /// @brief "the Kubernetes API at https://... (kubeconfig F, context C)".
  [[nodiscard]] const std::string& description() const { return description_; }
  /// @brief The API server answered the last request of every informer.
  [[nodiscard]] bool healthy() const;
  /// @brief Lines worth a log line at start (how this node was found, discovery notes).
  [[nodiscard]] const std::vector<std::string>& notes() const { return notes_; }

 private:
  KubeSource() = default;
  void locate_own_pods(const model::Cluster& cluster);
  void note_health(const kube::Change& change);
  void refresh_cgroups(const model::Cluster& cluster);
  /// A change the indexes may take: check_api_names(), else skipped with one warning per object.
  bool admit(const kube::Change& change);
  /// Feeds an object change to the indexes.
  void apply(const kube::Change& change, kube::Time now);

  KubeSourceOptions options_;
  std::unique_ptr<kube::ClusterWatch> watch_;
  kube::PodIndex pods_;
  kube::NodeIndex nodes_;
  kube::ServiceIndex services_;
  std::string own_node_;
  std::string description_;
  std::vector<std::string> notes_;
  HostFacts host_;
  std::string cgroup2_;
  std::set<std::string> cgroups_missing_;  ///< container ids last looked for in vain
  std::set<std::string> refused_;          ///< UIDs of objects skipped for their names (warned once)
  std::map<kube::Resource, bool> healthy_;
  kube::Failure outage_ = kube::Failure::None;
};

/// @brief Finds the API configuration (kube::load_config with these options) and
/// connects (KubeSource::connect).
Result<std::unique_ptr<KubeSource>> connect_kube(const KubeSourceOptions& options);

}  // namespace podpath::inventory

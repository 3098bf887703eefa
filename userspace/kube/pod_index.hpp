#pragma once
/// @file
/// @brief Who holds an address, and when: pods by UID with their IPs, deleted pods kept as
/// tombstones for a grace period, IP reuse resolved by time, nodes by name, Services and
/// their EndpointSlices. Fed with the
/// informers' changes on the caller's thread; not thread-safe.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kube/informer.hpp"
#include "kube/objects.hpp"
#include "model/address.hpp"

namespace podpath::kube {

/// @brief The answer to "who had this address?".
struct PodLookup {
  enum class Kind { None, Pod, Ambiguous } kind = Kind::None;
  const Pod* pod = nullptr;        ///< Kind::Pod
  bool tombstone = false;          ///< the pod no longer holds the address (deleted or finished)
  std::vector<const Pod*> claims;  ///< Kind::Ambiguous: every live pod claiming the address
};

/// @brief A container found by its runtime id.
struct ContainerRef {
  const Pod* pod = nullptr;
  const Container* container = nullptr;
};

/// @brief The pods of a cluster, indexed for flow attribution.
///
/// Rules:
/// - Pods are keyed by UID: a pod recreated under the same name is another pod.
/// - hostNetwork pods (they carry the node's IP) and pods in phase Succeeded or Failed
///   (their IP is free for reuse) claim no address.
/// - A pod that stops claiming its addresses (deleted, or finished) stays resolvable as a
///   tombstone for `grace` after that, so flows that outlive it keep its name.
/// - An address several pods held over time resolves by the time a flow was first seen:
///   to the pod created last at or before that time (creationTimestamp has one-second
///   resolution); a flow older than every such pod goes to the oldest.
/// - An address that two live pods claim at once is ambiguous: never guessed.
class PodIndex {
 public:
  using Clock = std::chrono::system_clock;

  explicit PodIndex(std::chrono::seconds grace = std::chrono::seconds(60)) : grace_(grace) {}

  /// @brief Applies an informer change (pods only; others are ignored). `now` is when it
  /// was seen: a deletion's grace period starts there.
  void apply(const Change& change, Time now);
  /// @brief Added/Modified.
  void upsert(const Pod& pod, Time now);
  /// @brief Deleted.
  void remove(const Pod& pod, Time now);

  /// @brief Who held `ip` for a flow first seen at `first_seen`, as of `now` (tombstones
  /// older than the grace period are ignored).
  [[nodiscard]] PodLookup lookup(const model::IpAddress& ip, Time first_seen, Time now) const;
  /// @brief A live or tombstoned pod by UID.
  [[nodiscard]] const Pod* find_uid(std::string_view uid) const;
  /// @brief A container by runtime id (without the "containerd://" prefix).
  [[nodiscard]] std::optional<ContainerRef> find_container(std::string_view id) const;
  /// @brief Pods that are not deleted, sorted by namespace/name.
  [[nodiscard]] std::vector<const Pod*> live_pods() const;
  /// @brief Forgets tombstones older than the grace period.
  void expire(Time now);

  [[nodiscard]] std::size_t size() const { return records_.size(); }
  [[nodiscard]] std::chrono::seconds grace() const { return grace_; }

 private:
  struct Record {
    Pod pod;
    std::vector<model::IpAddress> ips;  ///< addresses it claims, or claimed until `released`
    std::optional<Time> released;       ///< when it stopped claiming them
    bool deleted = false;
  };

  void index(const std::string& uid, const std::vector<model::IpAddress>& ips);
  void unindex(const std::string& uid, const std::vector<model::IpAddress>& ips);
  void forget(const std::string& uid);
  [[nodiscard]] bool expired(const Record& r, Time now) const;

  std::chrono::seconds grace_;
  std::unordered_map<std::string, Record> records_;             ///< by UID
  std::map<model::IpAddress, std::vector<std::string>> by_ip_;  ///< IP -> UIDs
  std::unordered_map<std::string, std::string> containers_;     ///< container id -> UID
};

/// @brief Services and EndpointSlices by UID, joined into the model's Services on demand
/// (to_model_services): a slice that arrives before its Service waits for it; deleting
/// either takes it out of the join.
class ServiceIndex {
 public:
  /// @brief Applies an informer change (services and endpointslices; others are ignored).
  void apply(const Change& change);
  /// @brief The Services with a ClusterIP, one per TCP or UDP port, with their ready backends.
  [[nodiscard]] std::vector<model::Service> model_services() const;
  [[nodiscard]] std::size_t services() const { return services_.size(); }
  [[nodiscard]] std::size_t slices() const { return slices_.size(); }

 private:
  std::map<std::string, Service, std::less<>> services_;      ///< by UID
  std::map<std::string, EndpointSlice, std::less<>> slices_;  ///< by UID
};

/// @brief Nodes by name.
class NodeIndex {
 public:
  /// @brief Applies an informer change (nodes only; others are ignored).
  void apply(const Change& change);
  [[nodiscard]] const Node* find(std::string_view name) const;
  /// @brief All nodes, sorted by name.
  [[nodiscard]] std::vector<const Node*> all() const;

 private:
  std::map<std::string, Node, std::less<>> nodes_;
};

}  // namespace podpath::kube

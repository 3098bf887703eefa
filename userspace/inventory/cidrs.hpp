#pragma once
/// @file
/// @brief The CIDR table: the networks podpath classifies addresses into (each node's
/// pod CIDR, the underlay, the service CIDR, docker0), numbered 1..63 for the kernel's
/// classifier (bpf::kCidrOther, bpf::kMaxCidrs; the loader checks they agree).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/address.hpp"
#include "model/cluster.hpp"
#include "util/result.hpp"

namespace podpath::inventory {

/// @brief Id of "no configured CIDR contains the address".
inline constexpr std::uint16_t kCidrOther = 0;
/// @brief Ids are 1 .. kMaxCidrs-1.
inline constexpr std::uint16_t kMaxCidrs = 64;

/// @brief What a CIDR is.
enum class CidrKind { PodCidr, Underlay, Services, Docker, Other };

/// @brief "pods", "underlay", "services", "docker", "other".
const char* to_string(CidrKind kind);

/// @brief One classified network.
struct CidrEntry {
  std::uint16_t id = kCidrOther;
  model::Cidr cidr;
  std::string label;  ///< "node1 pods", "underlay", "services", "docker0 node1"
  CidrKind kind = CidrKind::Other;
  std::string node;  ///< owner node (pod CIDR, a node's docker0); empty if shared

  /// @brief Packets from this CIDR are counted into the matrix where they leave a pod: true for
  /// pod CIDRs.
  [[nodiscard]] bool counted_at_source() const { return kind == CidrKind::PodCidr; }
  bool operator==(const CidrEntry&) const = default;
};

/// @brief What the table is built from besides the cluster.
struct CidrOptions {
  /// @brief The Kubernetes service CIDR (kube-apiserver --service-cluster-ip-range).
  std::optional<model::Cidr> service_cidr = model::Cidr::parse("10.96.0.0/12");
  /// @brief docker0's network per node (node name, CIDR), read from the nodes' links.
  /// Nodes sharing the same network (the default 172.17.0.0/16 everywhere) share one entry.
  std::vector<std::pair<std::string, model::Cidr>> docker;
};

/// @brief Ids and labels for the networks of a cluster; lookup by longest prefix.
class CidrTable {
 public:
  /// @brief Pod CIDRs first (in node order; a node without one, i.e. a /0, is skipped), then the underlay,
  /// the service CIDR and the docker networks. Fails when there are more than 63 or two are identical.
  static Result<CidrTable> build(const model::Cluster& cluster, const CidrOptions& options = {});

  /// @brief Adds one entry with the next free id; fails when full or already present.
  Result<std::uint16_t> add(const model::Cidr& cidr, std::string label, CidrKind kind, std::string node = {});

  /// @brief The most specific entry containing `addr`, or nullptr ("other").
  [[nodiscard]] const CidrEntry* lookup(const model::IpAddress& addr) const;
  /// @brief The entry with `id`, or nullptr (for kCidrOther and unknown ids).
  [[nodiscard]] const CidrEntry* by_id(std::uint16_t id) const;
  /// @brief The entry for exactly `cidr`, or nullptr.
  [[nodiscard]] const CidrEntry* find(const model::Cidr& cidr) const;
  /// @brief The label of `id`; "other" for kCidrOther or an unknown id.
  [[nodiscard]] std::string label(std::uint16_t id) const;
  /// @brief Every entry, by id.
  [[nodiscard]] const std::vector<CidrEntry>& entries() const { return entries_; }

 private:
  std::vector<CidrEntry> entries_;
};

}  // namespace podpath::inventory

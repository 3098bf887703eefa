#pragma once
/// @file
/// @brief The path composer: orders the observation points of a flow in traversal order
/// across nodes and explains every hop with the route that sent the packet there.
///
/// The expected path is computed from the routes (a small model of kubenet forwarding:
/// pod veth -> bridge -> host routing -> uplink -> underlay router -> node -> bridge ->
/// pod veth), then matched against what was observed. A hop expected on a watched
/// interface but not observed is *missing*: that is where the packets stopped.
///
/// Everything here is plain input: route tables as data (net/route_table.hpp has no
/// kernel access), endpoints already resolved (flows/endpoint.hpp).

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "flows/aggregator.hpp"
#include "flows/endpoint.hpp"
#include "model/address.hpp"
#include "model/cluster.hpp"
#include "model/interface.hpp"
#include "net/route_table.hpp"

namespace podpath::flows {

/// @brief An interface podpath watches: (network-namespace cookie, ifindex).
struct InterfaceRef {
  std::uint64_t netns_cookie = 0;
  std::uint32_t ifindex = 0;
  auto operator<=>(const InterfaceRef&) const = default;
};

/// @brief What is known about a watched interface.
struct ObservedInterface {
  std::string node;  ///< node name
  std::string name;  ///< interface name inside the node's namespace
  model::InterfaceRole role = model::InterfaceRole::Other;
  std::string pod;  ///< PodVeth: the pod's display name ("default/web-1"), if known

  bool operator==(const ObservedInterface&) const = default;
};

/// @brief A node as the composer sees it.
struct PathNode {
  std::string name;
  net::RouteTable routes;  ///< its main table
  /// @brief Addresses that are the node itself (underlay, bridge, docker0 ...):
  /// packets to them are delivered locally.
  std::vector<model::IpAddress> local_addresses;
  std::string bridge = "cbr0";
  std::string uplink = "eth0";
  std::optional<model::Cidr> pod_cidr;

  /// @brief From an inventory node (underlay and bridge addresses are local) and its routes.
  static PathNode from(const model::Node& node, net::RouteTable routes);
  /// @brief A node whose routes podpath cannot read (another machine of a real cluster):
  /// kubenet's routes are assumed, shaped like `like`, the node podpath runs on: its pod CIDR
  /// on that node's bridge, the underlay on that node's uplink, and the default route via
  /// `gateway` (the underlay router every node shares) when there is one.
  static PathNode assumed(const model::Node& node, const model::Node& like,
                          const std::optional<model::Cidr>& underlay,
                          const std::optional<model::IpAddress>& gateway);
  [[nodiscard]] bool is_local(const model::IpAddress& ip) const;
  bool operator==(const PathNode&) const = default;
};

/// @brief The underlay router. It is not observed; it appears as a virtual hop.
struct PathGateway {
  std::string name = "gateway";
  model::IpAddress ip;
  std::string interface;
  net::RouteTable routes;  ///< empty when unknown (a real cloud router)

  /// @brief From an inventory gateway (routes as the inventory lists them).
  static PathGateway from(const model::Gateway& gateway, const std::optional<model::Cidr>& underlay);
  bool operator==(const PathGateway&) const = default;
};

/// @brief Everything the composer knows about the cluster's forwarding.
struct Topology {
  std::map<InterfaceRef, ObservedInterface> interfaces;  ///< every watched interface
  std::vector<PathNode> nodes;
  std::optional<PathGateway> gateway;

  [[nodiscard]] const PathNode* find_node(std::string_view name) const;
  /// @brief The node one of whose local addresses is `ip`.
  [[nodiscard]] const PathNode* node_with_address(const model::IpAddress& ip) const;
  /// @brief True if an interface `name` of node `node` is watched.
  [[nodiscard]] bool watched(std::string_view node, std::string_view name) const;
  bool operator==(const Topology&) const = default;
};

/// @brief Direction of a hop; Forward is a virtual hop through an unobserved router.
enum class HopDirection { Ingress, Egress, Forward };

/// @brief "ingress", "egress", "forward".
const char* to_string(HopDirection direction);

/// @brief What is known about a hop.
enum class HopState {
  Observed,    ///< expected and seen
  Missing,     ///< expected on a watched interface, not seen: the packets stopped before it
  Unwatched,   ///< expected, but podpath does not watch that interface
  Virtual,     ///< a router podpath cannot observe (the gateway), shown for the route it applies
  Unexpected,  ///< seen, but not on the path the routes predict
  /// @brief On a node whose observations cannot be had: its agent does not answer, or it has
  /// none (the cluster view, cluster/); the note says which.
  Unknown,
};

/// @brief "observed", "missing", "unwatched", "virtual", "unexpected", "unknown".
const char* to_string(HopState state);

/// @brief One hop of a path.
struct Hop {
  std::string node;
  std::string interface;
  HopDirection direction = HopDirection::Ingress;
  model::InterfaceRole role = model::InterfaceRole::Other;
  HopState state = HopState::Unwatched;
  std::optional<PointStats> stats;  ///< the counters, when observed
  std::string route;  ///< the route applied at this hop ("10.10.130.0/24 dev cbr0"); may be empty
  std::string note;   ///< the explanation for a human
  /// @brief The address translation that happened right after this hop ("DNAT 10.96.0.10:80 →
  /// 10.10.130.2:8080 (service default/web, rule KUBE-SEP-...)"); empty for most hops.
  std::string nat;

  [[nodiscard]] bool observed() const { return state == HopState::Observed || state == HopState::Unexpected; }
};

/// @brief A flow's path.
struct Path {
  std::vector<Hop> hops;
  /// @brief One sentence: "delivered to pod default/db-0 on node2", or where it stopped.
  std::string verdict;
  /// @brief No hop is missing.
  bool complete = true;
};

/// @brief Composes the path of one flow direction from `src` to `dst` (the flow key's
/// addresses, resolved). Observed points the topology does not know are shown as
/// unexpected hops named by cookie and ifindex.
Path compose_path(const Flow& flow, const Endpoint& src, const Endpoint& dst, const Topology& topology);

/// @brief "DNAT 10.96.0.10:80 → 10.10.130.2:8080" for a request, "reverse DNAT 10.10.130.2:8080 →
/// 10.96.0.10:80" for its reply (SNAT alike), with "(service S, rule R)" when known.
std::string describe_nat(const Flow& flow, const NatExplanation& why);

/// @brief For a direction joined across a NAT (Flow::nat): puts describe_nat() on the hop after
/// which the translation happened, the last hop in the translating namespace that saw the
/// packets before it; without one (the client's side unwatched), on the first hop that saw
/// them after it. A flow without NAT is left alone.
void annotate_nat(Path& path, const Flow& flow, const NatExplanation& why);

}  // namespace podpath::flows

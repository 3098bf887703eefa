#pragma once
/// @file
/// @brief Which conversations a user asked to see (--pod, --namespace, --node, --cidr,
/// --proto, --port), applied to resolved views.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/address.hpp"
#include "model/cluster.hpp"
#include "output/flow_view.hpp"
#include "util/result.hpp"

namespace podpath::output {

/// @brief Every given criterion must hold; within one criterion either end may match.
struct FlowFilter {
  std::vector<std::string> pods;        ///< "ns/name" or "name": source or destination pod
  std::vector<std::string> namespaces;  ///< source or destination pod namespace
  std::vector<std::string> nodes;       ///< source or destination lives on the node
  std::vector<model::Cidr> cidrs;       ///< source or destination inside
  std::vector<std::uint8_t> protos;     ///< IP protocol numbers
  std::vector<std::uint16_t> ports;     ///< source or destination port (TCP/UDP/SCTP)
  /// @brief Also show link-local and multicast/broadcast control traffic (IPv6 neighbour
  /// discovery, MLD, DHCP, mDNS ...): noise for pod-to-pod debugging, hidden by default.
  bool control_traffic = false;

  /// @brief No user criterion given (control traffic aside).
  [[nodiscard]] bool empty() const;
  [[nodiscard]] bool matches(const ConversationView& view) const;
  /// @brief The same test on a conversation not yet described, for selecting before
  /// describing: criteria on the flow key cost nothing; the ends are resolved only for
  /// --pod, --namespace and --node, as describe() resolves them (by the forward flow's
  /// first-seen time), and once per address over the returned function's life when the
  /// resolver has no history.
  [[nodiscard]] std::function<bool(const flows::Conversation&)>
  keeper(const flows::EndpointResolver& resolver) const;
  /// @brief The criteria on the flow alone (protocol, port, CIDR, control traffic). CIDRs
  /// match the ends between the pods (Flow::between_key) and, across a NAT, the ClusterIP.
  [[nodiscard]] bool matches_flow(const flows::Flow& flow) const;
  /// @brief The criteria on the resolved ends (pod, namespace, node).
  [[nodiscard]] bool matches_ends(const flows::Endpoint& src, const flows::Endpoint& dst) const;
  /// @brief Every pod, Kubernetes namespace and node the filter names exists in `cluster`:
  /// a filter on a name nothing has would show "no flows yet" forever. The error says which
  /// name is unknown and lists what there is.
  [[nodiscard]] Result<void> check_names(const model::Cluster& cluster) const;
  /// @brief Keeps the matching views.
  [[nodiscard]] std::vector<ConversationView> apply(std::vector<ConversationView> views) const;
};

/// @brief `podpath paths ENDPOINT...`: with no endpoint every conversation, with one those
/// either end of which it is, with two those between them (either way round). An endpoint is
/// a pod ("name" or "namespace/name") or an IP address.
bool between_endpoints(const ConversationView& view, const std::vector<std::string>& endpoints);
/// @brief Each endpoint of `podpath paths` is an IP address or a pod of `cluster`; the
/// error names the unknown one and the pods there are.
Result<void> check_endpoints(const model::Cluster& cluster, const std::vector<std::string>& endpoints);

/// @brief Link-local, multicast or broadcast: traffic that never crosses a router.
bool is_control_traffic(const model::FlowKey& key);

/// @brief "tcp", "udp", "icmp", "icmpv6", "sctp" (any case) or a number 0..255.
Result<std::uint8_t> parse_protocol(const std::string& text);

/// @brief Splits filter flags typed as one line (the live view's '/') into words at blanks;
/// '...' and "..." group words with blanks in them. Fails on an unterminated quote.
Result<std::vector<std::string>> split_filter_words(const std::string& text);
/// @brief `word` as split_filter_words() reads it back: quoted when empty or when it holds
/// blanks or quotes.
std::string quote_filter_word(const std::string& word);

}  // namespace podpath::output

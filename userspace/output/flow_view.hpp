#pragma once
/// @file
/// @brief What the flow outputs render: each conversation's directions with resolved
/// endpoints and composed paths.

#include <optional>
#include <vector>

#include "flows/aggregator.hpp"
#include "flows/endpoint.hpp"
#include "flows/path.hpp"

namespace podpath::output {

/// @brief One direction of a conversation, ready to render.
struct DirectionView {
  const flows::Flow* flow = nullptr;
  flows::Endpoint src;
  flows::Endpoint dst;
  flows::Path path;
  /// @brief The container(s) of the source pod that sent this direction ("app",
  /// "app,sidecar"); empty when attribution is off or unknown.
  std::string container;
  /// @brief A direction joined across a NAT (Flow::nat): src and dst are the addresses the
  /// packets carry between the pods (the client and the backend a Service picked), and
  /// `service` is the ClusterIP the client addressed.
  std::optional<flows::Endpoint> service;
  std::string nat;  ///< the translation, as its hop shows it (flows::describe_nat)
};

/// @brief A conversation: the initiator's direction and the reply, if any.
struct ConversationView {
  DirectionView forward;
  std::optional<DirectionView> reverse;

  [[nodiscard]] double bps() const;
  [[nodiscard]] double pps() const;
  [[nodiscard]] std::uint64_t packets() const;
  [[nodiscard]] std::uint64_t bytes() const;
};

/// @brief Conversations a view selected, described, and what they were chosen from.
struct SelectedViews {
  std::vector<ConversationView> views;  ///< the selected conversations, in order
  std::size_t total = 0;                ///< conversations tracked
  std::size_t matching = 0;             ///< of those, the ones the filters keep
};

/// @brief Resolves both ends and composes the path of every direction. The views point
/// at the flows of `conversations` (valid until the aggregator's next update) and at
/// pods of the resolver's cluster.
std::vector<ConversationView> describe(const std::vector<flows::Conversation>& conversations,
                                       const flows::EndpointResolver& resolver,
                                       const flows::Topology& topology);

/// @brief One direction (used by describe, and for a flow without its pair).
DirectionView describe(const flows::Flow& flow, const flows::EndpointResolver& resolver,
                       const flows::Topology& topology);

}  // namespace podpath::output

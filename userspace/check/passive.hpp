#pragma once
/// @file
/// @brief How `podpath check --passive` judges traffic it only watched: which flows it looks
/// at, which conversations look broken, and what it counts as their outcome. Pure functions
/// over the aggregator's flows (no kernel access), so every rule is unit-tested.

#include <optional>
#include <set>

#include "check/evidence.hpp"
#include "flows/aggregator.hpp"
#include "model/address.hpp"
#include "model/cluster.hpp"
#include "model/flow.hpp"

namespace podpath::check {

/// @brief The flows passive mode looks at.
struct FlowSelection {
  std::optional<model::IpAddress> a;  ///< one end, when the user named it
  std::optional<model::IpAddress> b;  ///< the other end, when the user named it

  /// @brief Every named end takes part in the flow (as source or destination); with no end
  /// named, a pod of `cluster` is at one end.
  [[nodiscard]] bool selects(const model::FlowKey& key, const model::Cluster& cluster) const;
};

/// @brief TCP: the initiator sent SYNs and no ACK (a connection being opened, not one seen
/// mid-stream), and no SYN-ACK came back: no reply flow, or one that never carried SYN.
bool unanswered_syn(const flows::Flow& forward, const flows::Flow* reverse);

/// @brief ICMP: echo requests, at least two (a single one may be a ping still in flight), and
/// no reply flow at all.
bool unanswered_echo(const flows::Flow& forward, const flows::Flow* reverse);

/// @brief A conversation worth a report: packets of either direction were dropped (`dropped`
/// holds the flow keys of dropped packets), or its opening went unanswered.
bool has_problem(const flows::Flow& forward, const flows::Flow* reverse,
                 const std::set<model::FlowKey>& dropped);

/// @brief The outcome of a watched conversation, as a probe's would be counted: refused when
/// a TCP reply carried RST but never SYN; answered when any reply flowed; else every request
/// packet timed out. `forward` is nullptr for a flow the datapath never counted (dropped
/// before its first hop): one packet sent.
OutcomeSummary observed_outcome(const model::FlowKey& key, const flows::Flow* forward,
                                const flows::Flow* reverse);

}  // namespace podpath::check

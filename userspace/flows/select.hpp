#pragma once
/// @file
/// @brief Conversations (a flow and its reverse direction) and how the views pick the ones
/// they show: the busiest N of those a filter keeps, found without sorting or describing
/// the others. The terminal table, the JSON snapshot and the live view all select here.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "flows/flow_store.hpp"

namespace podpath::flows {

/// @brief A flow and its reverse direction, for display: `forward` is the direction
/// seen first (the initiator's, as far as podpath can tell).
struct Conversation {
  const Flow* forward = nullptr;
  const Flow* reverse = nullptr;  ///< nullptr when no reply was seen

  [[nodiscard]] double bps() const;
  [[nodiscard]] double pps() const;
  [[nodiscard]] std::uint64_t packets() const;
  [[nodiscard]] std::uint64_t bytes() const;
};

/// @brief True when `a` should be shown as the forward direction of the pair (a, b).
bool initiated_first(const Flow& a, const Flow& b);

/// @brief Order of the selected conversations, busiest first.
enum class ConversationOrder {
  Rate,     ///< bits/s, then packets/s, then packets
  Packets,  ///< packets since podpath first saw them
  Bytes,    ///< bytes since podpath first saw them
};

/// @brief What to select.
struct SelectOptions {
  ConversationOrder order = ConversationOrder::Rate;
  std::size_t limit = 0;  ///< at most this many; 0 = all
  /// @brief Keeps a conversation (filters); empty = keep all. Called once per conversation
  /// in the store, with `forward` and `reverse` as they will be shown.
  std::function<bool(const Conversation&)> keep;
};

/// @brief The selected conversations and what they were chosen from.
struct Selection {
  std::vector<Conversation> conversations;  ///< busiest first, at most the limit
  std::size_t total = 0;                    ///< conversations tracked, before filtering
  std::size_t matching = 0;                 ///< of those, the ones `keep` kept

  /// @brief conversations.size(): how many are shown.
  [[nodiscard]] std::size_t shown() const { return conversations.size(); }
};

/// @brief The busiest `limit` conversations of `flows` that `keep` keeps, in `order` (ties
/// by forward key, so the order is stable from one refresh to the next). Costs one pass
/// over the flows plus a heap of `limit` entries: nothing is sorted or allocated per
/// conversation that is not selected. Pointers stay valid until `flows` changes.
/// `joined` are conversations made outside the store (a connection joined across a NAT),
/// considered like the others; `in_joined[i]` != 0 marks the flow at position i as shown
/// only through one of them (skipped; positions past its end are not).
Selection select_conversations(const FlowStore& flows, const SelectOptions& options,
                               std::span<const Conversation> joined = {},
                               std::span<const std::uint8_t> in_joined = {});

/// @brief True when `a` is shown before `b` in `order` (ties broken by forward key).
bool shown_before(const Conversation& a, const Conversation& b, ConversationOrder order);

}  // namespace podpath::flows

#pragma once
/// @file
/// @brief The agent's flows as the HTTP side reads them: immutable conversation items,
/// each already serialised in the `trace` JSON schema with the node's own hops, built on
/// the main thread after every refresh.
///
/// Serialising every conversation on every refresh would cost the agent more than
/// counting them, so items are kept across refreshes and rebuilt only when their
/// conversation changed: a counter grew, it went idle (its rates fell to 0), or the node's
/// routes, interfaces or inventory changed. What changed is also what the stream sends.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "flows/aggregator.hpp"
#include "flows/endpoint.hpp"
#include "flows/flow_store.hpp"
#include "flows/path.hpp"
#include "model/cluster.hpp"
#include "output/filter.hpp"
#include "output/flow_table.hpp"
#include "output/flow_view.hpp"

namespace podpath::server {

/// @brief One conversation, immutable once built; shared by snapshots and stream events.
struct FlowItem {
  /// @brief Stable name of the conversation: "PROTO/SRC/SPORT/DST/DPORT" of its forward key
  /// (IP protocol number; "/frag" appended for non-first fragments).
  std::string id;
  /// @brief The conversation in the `trace` JSON schema (docs/paths.md) with an "id" field
  /// and this node's hops only, serialised.
  std::string json;
  std::uint64_t packets = 0;  ///< both directions
  std::uint64_t bytes = 0;
  double pps = 0;
  double bps = 0;
  /// @brief What output::FlowFilter reads, and no more: the forward key (with its NAT join)
  /// and both ends of the forward direction. The ends share ownership of the pods they name.
  /// (A whole output::ConversationView, paths and all, cost 1.4 KiB per item: docs/agent.md.)
  flows::Flow key_flow;
  flows::Endpoint src;
  flows::Endpoint dst;

  /// @brief The conversation passes `filter` (output::FlowFilter::matches of its view).
  [[nodiscard]] bool matches(const output::FlowFilter& filter) const {
    return filter.matches_flow(key_flow) && filter.matches_ends(src, dst);
  }

  FlowItem() = default;
  FlowItem(const FlowItem&) = delete;
  FlowItem& operator=(const FlowItem&) = delete;
};
using FlowItemPtr = std::shared_ptr<const FlowItem>;

/// @brief The item of a described conversation (its forward direction has a flow).
FlowItemPtr make_flow_item(const output::ConversationView& view);

/// @brief "PROTO/SRC/SPORT/DST/DPORT[/frag]".
std::string conversation_id(const model::FlowKey& key);

/// @brief The node's part of a path composed by a session that watches only that node: its
/// own hops (and any observed point), `complete` when none of them is missing, and the
/// verdict when the path ends on the node, else "left NODE by IFACE; the rest of the path
/// is on other nodes".
flows::Path node_path(const flows::Path& path, std::string_view node);

/// @brief What one refresh gives the builder (a live session, or fakes in tests).
struct FlowInputs {
  const std::vector<flows::Conversation>& conversations;
  const flows::EndpointResolver& resolver;
  const flows::Topology& topology;
  /// @brief The cluster the resolver resolves in: a new snapshot (a reload, a change from the
  /// Kubernetes API) rebuilds every item.
  model::ClusterSnapshot cluster;
  /// @brief The container(s) that sent a direction (Session::container_of); may be empty.
  std::function<std::string(const model::FlowKey&, const model::Pod*)> container_of;
};

/// @brief What changed in one refresh.
struct FlowChanges {
  std::vector<FlowItemPtr> changed;  ///< new conversations and those whose item was rebuilt
  std::vector<FlowItemPtr> removed;  ///< gone (expired), as last served
  [[nodiscard]] bool empty() const { return changed.empty() && removed.empty(); }
};

/// @brief Keeps one item per conversation across refreshes (main thread only).
class FlowSnapshotBuilder {
 public:
  /// @brief `node`: keep that node's hops only (an agent); empty: whole paths (`trace --web`).
  explicit FlowSnapshotBuilder(std::string node) : node_(std::move(node)) {}

  /// @brief Brings the items up to date; `items` receives every conversation, busiest first
  /// (the aggregator's order). Conversations whose counters, rates, routes and names did not
  /// change keep their item.
  FlowChanges update(const FlowInputs& in, std::vector<FlowItemPtr>& items);

  /// @brief Items rebuilt since the builder started (for the figures).
  [[nodiscard]] std::uint64_t rebuilt() const { return rebuilt_; }

 private:
  struct Signature {
    std::uint64_t forward_active = 0;  // Flow::last_active_ns
    std::uint64_t reverse_active = 0;
    bool has_reverse = false;
    bool active_now = false;  // a counter grew in the last interval: the rates are not 0
    std::uint64_t generation = 0;
    bool operator==(const Signature&) const = default;
  };
  struct Cached {
    FlowItemPtr item;
    Signature signature;
    std::uint64_t seen_in = 0;  ///< the last update() whose conversations held it
  };
  struct KeyHash {
    std::size_t operator()(const model::FlowKey& key) const { return flows::hash_key(key); }
  };

  void note_generation(const FlowInputs& in);
  FlowItemPtr build(const FlowInputs& in, const flows::Conversation& c) const;

  std::string node_;
  // By forward key, kept across updates: an update touches each conversation's entry in place
  // and then removes those it did not touch (a map rebuilt per update allocated a node per
  // conversation per refresh).
  std::unordered_map<model::FlowKey, Cached, KeyHash> cache_;
  std::uint64_t updates_ = 0;
  model::ClusterSnapshot cluster_;
  flows::Topology topology_;
  std::uint64_t generation_ = 0;
  std::uint64_t rebuilt_ = 0;
};

/// @brief The conversations `query` selects, ordered and limited as it asks; `total`
/// receives how many matched before the limit.
std::vector<FlowItemPtr> select_flows(const std::vector<FlowItemPtr>& items, const output::FlowFilter& filter,
                                      output::SortKey sort, std::size_t limit, std::size_t& total);

}  // namespace podpath::server

#pragma once
/// @file
/// @brief The flow aggregator: reads per-observation-point counters from a FlowSource
/// (the BPF flows map, a fake in tests), turns them into flows with deltas and rates,
/// pairs each flow with its reverse direction and expires idle flows.

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include <set>
#include <utility>

#include "model/flow.hpp"
#include "util/result.hpp"

namespace podpath::flows {

/// @brief An entry of the source: one flow direction at one observation point.
struct PointKey {
  model::ObservationPoint point;
  model::FlowKey key;
  auto operator<=>(const PointKey&) const = default;
};

/// @brief Where flow counters come from. Implemented over the BPF flows map
/// (userspace/bpf) and by fakes in tests.
class FlowSource {
 public:
  virtual ~FlowSource() = default;
  /// @brief Every entry, with counters cumulative since the entry was created.
  virtual Result<std::vector<model::FlowRecord>> read() = 0;
  /// @brief Deletes entries (expired flows). Entries already gone are not an error.
  virtual Result<void> remove(const std::vector<PointKey>& entries) = 0;
  /// @brief Connections a NAT translated (kube-proxy's DNAT to a Service backend, SNAT);
  /// empty where the datapath does not follow NAT.
  virtual Result<std::vector<model::NatRecord>> read_nat() { return std::vector<model::NatRecord>{}; }
  /// @brief Forgets translated connections none of whose flows is left.
  virtual Result<void> remove_nat(const std::vector<model::NatRecord>& records) {
    (void)records;
    return {};
  }
};

/// @brief One flow direction at one observation point, as of the latest update.
struct PointStats {
  model::ObservationPoint point;
  model::FlowStats stats;  ///< the source's counters as last read
  /// @brief Totals since podpath first saw the entry, kept across resets (an entry
  /// evicted and recreated starts again at 0 in the map, not here).
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::uint64_t delta_packets = 0;  ///< since the previous update
  std::uint64_t delta_bytes = 0;
  double pps = 0;                    ///< packets/s over the last interval
  double bps = 0;                    ///< bits/s over the last interval
  std::uint64_t last_active_ns = 0;  ///< update time when the counters last grew
  bool present = true;               ///< still in the source at the last read
  /// @brief In a flow joined across a NAT: this point saw the packets before the translation
  /// (with the flow's `key`), not after it (with its `translated_key`).
  bool before_nat = false;
};

/// @brief One direction of a flow (one FlowKey) with its counters at every point that saw it.
struct Flow {
  model::FlowKey key;
  std::vector<PointStats> points;    ///< ordered by observation point
  std::uint64_t first_seen_ns = 0;   ///< earliest first_seen over points (source clock)
  std::uint64_t last_seen_ns = 0;    ///< latest last_seen over points (source clock)
  std::uint64_t last_active_ns = 0;  ///< update time when any counter last grew
  /// @brief Set on a direction joined across a NAT (Aggregator::conversations): the
  /// translation, and the direction's key after it. The request's `key` is what the client
  /// sent (to the ClusterIP), its translated key goes to the backend; the reply's `key`
  /// comes from the backend, its translated key from the ClusterIP. Points carry
  /// PointStats::before_nat.
  std::optional<model::NatRecord> nat;
  model::FlowKey translated_key;

  /// @brief The flow's packets: the most any single point counted (every point on the
  /// path counts the same packets, so summing would multiply them).
  [[nodiscard]] std::uint64_t packets() const;
  [[nodiscard]] std::uint64_t bytes() const;
  /// @brief Rates of the busiest point.
  [[nodiscard]] double pps() const;
  [[nodiscard]] double bps() const;
  /// @brief The TCP flags seen at any point: the OR of every point's flags byte (0 if not TCP).
  [[nodiscard]] std::uint32_t tcp_flags() const;
  /// @brief The point's stats, or nullptr if the flow was not seen there.
  [[nodiscard]] const PointStats* at(const model::ObservationPoint& point) const;
};

/// @brief A flow and its reverse direction, for display: `forward` is the direction
/// seen first (the initiator's, as far as podpath can tell).
struct Conversation {
  const Flow* forward = nullptr;
  const Flow* reverse = nullptr;  ///< nullptr when no reply was seen

  [[nodiscard]] double bps() const;
  [[nodiscard]] double pps() const;
  [[nodiscard]] std::uint64_t packets() const;
};

/// @brief Tunables.
struct AggregatorOptions {
  /// @brief A flow whose counters did not grow for this long is expired and removed
  /// from the source.
  std::uint64_t idle_timeout_ns = 30'000'000'000ULL;
};

/// @brief What one update did.
struct UpdateSummary {
  std::size_t records = 0;    ///< entries read
  std::size_t new_flows = 0;  ///< flow directions seen for the first time
  std::size_t expired = 0;    ///< flows expired and removed from the source
  std::size_t resets = 0;     ///< entries whose counters went backwards (evicted and recreated)
};

/// @brief Turns successive reads of a FlowSource into flows with rates.
class Aggregator {
 public:
  explicit Aggregator(FlowSource& source, AggregatorOptions options = {})
      : source_(source), options_(options) {}

  /// @brief Reads the source and updates every flow; `now_ns` is the caller's clock
  /// (CLOCK_MONOTONIC in production), used for rates and idleness. Rates are computed
  /// over the time since the previous update; the first update has no interval and
  /// reports rates of 0. A failed read changes nothing.
  Result<UpdateSummary> update(std::uint64_t now_ns);

  /// @brief Every live flow direction, by key.
  [[nodiscard]] const std::map<model::FlowKey, Flow>& flows() const { return flows_; }
  /// @brief The translated connections the source reported at the last update.
  [[nodiscard]] const std::vector<model::NatRecord>& nat() const { return nat_; }
  /// @brief Flows paired with their reverse direction, each flow in exactly one
  /// conversation, busiest (bits/s, then packets) first. A connection a NAT translated is
  /// one conversation: its flows before and after the translation joined into one
  /// direction each (Flow::nat). Pointers stay valid until the next update().
  [[nodiscard]] std::vector<Conversation> conversations() const;
  /// @brief Length of the last update's interval (0 before the second update).
  [[nodiscard]] std::uint64_t interval_ns() const { return interval_ns_; }

 private:
  // One update, phase by phase: clear the last interval's deltas and rates, apply each
  // record, recompute each flow's times from its points, expire the idle flows.
  void start_interval();
  void apply(const model::FlowRecord& rec, std::uint64_t now_ns, double seconds, UpdateSummary& summary);
  static void settle(Flow& flow);
  void expire_idle(std::uint64_t now_ns, UpdateSummary& summary);
  void read_nat();
  void join_nat();

  FlowSource& source_;
  AggregatorOptions options_;
  std::map<model::FlowKey, Flow> flows_;
  std::vector<model::NatRecord> nat_;
  // Directions joined across a NAT, rebuilt at every update: (request, reply) pairs, and
  // the keys of flows_ they hold (shown only through them).
  std::vector<std::pair<Flow, std::optional<Flow>>> joined_;
  std::set<model::FlowKey> in_joined_;
  std::uint64_t last_update_ns_ = 0;
  std::uint64_t interval_ns_ = 0;
  bool updated_once_ = false;
};

}  // namespace podpath::flows

#pragma once
/// @file
/// @brief The flow aggregator: reads per-observation-point counters from a FlowSource
/// (the BPF flows map, a fake in tests), turns them into flows with deltas and rates,
/// pairs each flow with its reverse direction and expires idle flows.

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "flows/flow_store.hpp"
#include "flows/select.hpp"
#include "model/flow.hpp"
#include "util/huge_pages.hpp"
#include "util/result.hpp"

namespace podpath::flows {

/// @brief An entry of the source: one flow direction at one observation point.
struct PointKey {
  model::ObservationPoint point;
  model::FlowKey key;
  auto operator<=>(const PointKey&) const = default;
};

/// @brief Receives a source's entries, a batch at a time.
using RecordSink = std::function<void(std::span<const model::FlowRecord>)>;

/// @brief What FlowSource::read_changed() handed over.
struct ChangedRead {
  /// @brief Every entry was handed over (a full read), not only those that changed.
  bool complete = true;
  /// @brief Entries the source holds, handed over or not (with !complete).
  std::size_t held = 0;
};

/// @brief Where flow counters come from. Implemented over the BPF flows map
/// (userspace/bpf) and by fakes in tests.
class FlowSource {
 public:
  virtual ~FlowSource() = default;
  /// @brief Hands every entry to `sink`, in batches, with counters cumulative since the
  /// entry was created. The order should be the same from one read to the next as far as
  /// the entries are (the aggregator reads fastest then); any order is correct.
  virtual Result<void> read(const RecordSink& sink) = 0;
  /// @brief Hands `sink` the entries whose counters may have changed since the previous read
  /// (of either kind); an entry not handed over holds what it held then. A source that
  /// cannot tell reads every entry and says so (ChangedRead::complete).
  virtual Result<ChangedRead> read_changed(const RecordSink& sink) {
    if (auto r = read(sink); !r) return r.error();
    return ChangedRead{};
  }
  /// @brief Deletes entries (expired or evicted flows). Entries already gone are not an error.
  virtual Result<void> remove(const std::vector<PointKey>& entries) = 0;
  /// @brief Entries one pool of the source holds at most; 0 when it has no known limit.
  [[nodiscard]] virtual std::size_t capacity() const { return 0; }
  /// @brief How many pools (kernel maps) the entries are spread over, each of capacity().
  [[nodiscard]] virtual std::size_t pools() const { return 1; }
  /// @brief The pool that holds the entries of a flow direction: 0 .. pools()-1.
  [[nodiscard]] virtual std::size_t pool(const model::FlowKey& /*key*/) const { return 0; }
  /// @brief Connections a NAT translated (kube-proxy's DNAT to a Service backend, SNAT);
  /// empty where the datapath does not follow NAT.
  virtual Result<std::vector<model::NatRecord>> read_nat() { return std::vector<model::NatRecord>{}; }
  /// @brief Forgets translated connections none of whose flows is left.
  virtual Result<void> remove_nat(const std::vector<model::NatRecord>& records) {
    (void)records;
    return {};
  }
};

/// @brief Tunables.
struct AggregatorOptions {
  /// @brief A flow whose counters did not grow for this long is expired and removed
  /// from the source.
  std::uint64_t idle_timeout_ns = 30'000'000'000ULL;
  /// @brief Map pressure: when a pool of the source holds more than this share of its
  /// capacity, the quietest and oldest flows are evicted (removed from the source and
  /// forgotten) until it holds at most `low_water`. The kernel map then always has room
  /// for new flows, and what it keeps is the busiest and newest.
  double high_water = 0.9;
  double low_water = 0.8;
  /// @brief Every this many updates the source is read whole (FlowSource::read), else only
  /// its changed entries (read_changed). The full read is a safety net: entries that left the
  /// source unseen are noticed at once anyway (its entry count disagrees), and a change a
  /// racing packet hid from one read shows in a later one. 1 = every update reads everything.
  std::uint32_t full_read_every = 60;
};

/// @brief What one update did.
struct UpdateSummary {
  std::size_t records = 0;    ///< entries read
  std::size_t new_flows = 0;  ///< flow directions seen for the first time
  std::size_t expired = 0;    ///< flows expired and removed from the source
  std::size_t evicted = 0;    ///< flows evicted under map pressure (see AggregatorOptions)
  std::size_t resets = 0;     ///< entries whose counters went backwards (evicted and recreated)
  bool full_read = true;      ///< every entry was read (else only the changed ones)
};

/// @brief Turns successive reads of a FlowSource into flows with rates. One update costs a
/// read of the entries that changed (every entry at every full_read_every-th update, or when
/// the source cannot tell which changed) and work on the flows that changed, not on all it
/// holds: flows are kept in order of their last activity, so idle expiry visits only the
/// expired ones and rates are reset only where the previous update set them; entries per
/// pool are counted as they come and go. A full read also makes one pass over every flow
/// (entries gone from the source). An entry read whose counters did not change costs a
/// comparison. `now_ns` must not go backwards (a flow is expired in its order of activity).
class Aggregator {
 public:
  explicit Aggregator(FlowSource& source, AggregatorOptions options = {})
      : source_(source), options_(options) {}

  /// @brief Reads the source and updates every flow; `now_ns` is the caller's clock
  /// (CLOCK_MONOTONIC in production), used for rates and idleness. Rates are computed
  /// over the time since the previous update; the first update has no interval and
  /// reports rates of 0. A failed read is returned as an error and expires, evicts or
  /// forgets nothing; entries read before the failure keep what was read (no count is
  /// taken twice).
  Result<UpdateSummary> update(std::uint64_t now_ns);

  /// @brief Every live flow direction (find(key), at(key), iteration).
  [[nodiscard]] const FlowStore& flows() const { return flows_; }
  /// @brief The translated connections the source reported at the last update.
  [[nodiscard]] const std::vector<model::NatRecord>& nat() const { return nat_; }
  /// @brief Flows paired with their reverse direction, each flow in exactly one
  /// conversation, busiest (bits/s, then packets/s, then packets) first. A connection a
  /// NAT translated is one conversation: its flows before and after the translation joined
  /// into one direction each (Flow::nat). Pointers stay valid until the next update().
  [[nodiscard]] std::vector<Conversation> conversations() const;
  /// @brief The conversations a view shows (select_conversations() over the flows).
  [[nodiscard]] Selection select(const SelectOptions& options) const;
  /// @brief Length of the last update's interval (0 before the second update).
  [[nodiscard]] std::uint64_t interval_ns() const { return interval_ns_; }
  /// @brief Source entries read by the last update.
  [[nodiscard]] std::size_t entries() const { return entries_; }
  /// @brief Flows evicted under map pressure since the aggregator started.
  [[nodiscard]] std::uint64_t evicted_total() const { return evicted_total_; }

 private:
  /// An entry's place: flow position and index in its points (the insert position when
  /// the flow has no such point yet).
  struct EntryRef {
    std::uint32_t flow = FlowStore::kNone;
    std::uint32_t point = 0;
  };

  /// apply()'s `found` when the caller did not look the record's flow up.
  static constexpr std::uint32_t kNotLookedUp = FlowStore::kNone - 1;

  /// A flow's place in the order of activity (parallel to the flow positions).
  struct Activity {
    std::uint32_t prev = FlowStore::kNone;  ///< less recently active
    std::uint32_t next = FlowStore::kNone;  ///< more recently active
    std::uint32_t touched_in = 0;           ///< the update that last moved it to the end
  };

  // One update, phase by phase: apply each record (counters, deltas, rates; a flow whose
  // counters grew goes to the end of the activity order), then settle what was not read
  // (after a full read: every flow, for entries gone from the source; else only the flows
  // whose rates the previous update set), expire the least recently active flows, relieve
  // map pressure, then read the NAT translations and join their flows.
  void apply(const model::FlowRecord& rec, std::uint32_t found = kNotLookedUp);
  void apply_unordered(std::span<const model::FlowRecord> records);
  void apply_ahead(std::span<const model::FlowRecord> records);
  EntryRef locate(const model::FlowRecord& rec, std::uint32_t found);
  void follow(EntryRef ref) {
    if (ordering_) next_order_.push_back(ref);
  }
  void add_point(Flow& flow, std::uint32_t at, const model::FlowRecord& rec);
  void count_delta(PointStats& p) const;
  Result<void> read_source(UpdateSummary& summary);
  Result<void> read_all();
  void settle_all();
  void settle_changed();
  [[nodiscard]] std::vector<std::uint32_t> idle_flows() const;
  void touch(std::uint32_t pos);
  void unlink(std::uint32_t pos);
  void moved(std::uint32_t from, std::uint32_t to);
  [[nodiscard]] std::size_t pool_index(const Flow& flow) const;
  Result<void> remove(const std::vector<std::uint32_t>& doomed);
  void relieve_pressure(std::vector<std::size_t>& per_pool, UpdateSummary& summary);
  [[nodiscard]] std::size_t pool_of(const Flow& flow) const;
  static std::uint32_t present_points(const Flow& flow);
  void read_nat();
  void join_nat();

  FlowSource& source_;
  AggregatorOptions options_;
  FlowStore flows_;
  // The entries in the order of the last full read, and the next one's, being built (while
  // ordering_). Sources return their entries in a stable order, so the entry a record
  // belongs to is almost always the one after the previous record's: found without hashing,
  // in memory order.
  std::vector<EntryRef, util::HugePageAllocator<EntryRef>> order_, next_order_;
  bool ordering_ = false;
  // Flows from least to most recently active (their counters last grew, or they appeared):
  // idle expiry takes them from the front. Only the flows touched in updates since
  // `rated_since_` can hold rates a later update must reset: the positions of those touched
  // in the update being applied (touched_), and in the one before (touched_before_).
  std::vector<Activity, util::HugePageAllocator<Activity>> activity_;
  std::vector<std::uint32_t> touched_, touched_before_;
  // Flows of the update before touched again in this one: when that is all of
  // touched_before_, settle_changed() visits touched_ only.
  std::size_t retouched_ = 0;
  std::uint32_t oldest_ = FlowStore::kNone;
  std::uint32_t newest_ = FlowStore::kNone;
  std::uint32_t rated_since_ = 1;
  // Entries present in the source, by pool, kept as entries appear, go and are removed.
  std::vector<std::size_t> per_pool_;
  std::size_t cursor_ = 0;
  // Records found at the cursor, ever; whether the last batch of a changed-entries read
  // mostly was (apply_unordered).
  std::size_t cursor_hits_ = 0;
  bool follows_order_ = false;
  // Updates since the last full read (AggregatorOptions::full_read_every).
  std::uint32_t since_full_ = 0;
  // A full read after a changed-entries read in the same update: records already applied
  // in this update come again, unchanged.
  bool rereading_ = false;
  // Entries a read found that were not present at the previous update (new or back).
  std::size_t appeared_ = 0;
  // The update being applied.
  std::uint32_t update_id_ = 0;
  std::uint64_t now_ns_ = 0;
  double seconds_ = 0;
  UpdateSummary* summary_ = nullptr;

  std::vector<model::NatRecord> nat_;
  // Directions joined across a NAT, rebuilt at every update: (request, reply) pairs, their
  // conversations, and by flow position whether flows_ holds a flow shown only through them.
  std::vector<std::pair<Flow, std::optional<Flow>>> joined_;
  std::vector<Conversation> joined_conversations_;
  std::vector<std::uint8_t> in_joined_;
  std::uint64_t last_update_ns_ = 0;
  std::uint64_t interval_ns_ = 0;
  std::size_t entries_ = 0;
  std::uint64_t evicted_total_ = 0;
  bool updated_once_ = false;
};

}  // namespace podpath::flows

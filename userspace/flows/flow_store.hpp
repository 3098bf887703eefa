#pragma once
/// @file
/// @brief The flows the aggregator tracks and how it finds them: a dense array of flows,
/// an open-addressing hash index from flow key to position, and each flow's link to its
/// reverse direction, kept up to date as flows come and go. Sized for a million flows:
/// a lookup is one hash and (mostly) one probe, iteration is a walk over one array.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "model/flow.hpp"
#include "util/huge_pages.hpp"

namespace podpath::flows {

/// @brief One flow direction at one observation point, as of the latest update.
struct PointStats {
  model::ObservationPoint point;
  /// @brief The source's counters as last read. The three fields after it live in its tail
  /// padding: PointStats takes 120 bytes, a 128-byte heap block, where the same fields in
  /// plain order took 136 bytes and a 144-byte block (per entry: most flows have few points).
  [[no_unique_address]] model::FlowStats stats;
  bool present = true;  ///< still in the source at the last read
  /// @brief In a flow joined across a NAT: this point saw the packets before the translation
  /// (with the flow's `key`), not after it (with its `translated_key`).
  bool before_nat = false;
  /// @brief The aggregator's update in which the entry was last read (its bookkeeping).
  std::uint32_t read_in = 0;
  /// @brief Totals since podpath first saw the entry, kept across resets (an entry
  /// evicted and recreated starts again at 0 in the map, not here).
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::uint64_t delta_packets = 0;  ///< since the previous update
  std::uint64_t delta_bytes = 0;
  double pps = 0;                    ///< packets/s over the last interval
  double bps = 0;                    ///< bits/s over the last interval
  std::uint64_t last_active_ns = 0;  ///< update time when the counters last grew
};
static_assert(sizeof(PointStats) <= 120, "PointStats grew past a 128-byte heap block (see `stats`)");

/// @brief A direction's translation across a NAT: the connection's record and the
/// direction's key after the translation.
struct FlowNat {
  model::NatRecord record;
  model::FlowKey translated_key;
};

/// @brief One direction of a flow (one FlowKey) with its counters at every point that saw it.
struct Flow {
  model::FlowKey key;
  std::vector<PointStats> points;    ///< ordered by observation point
  std::uint64_t first_seen_ns = 0;   ///< earliest first_seen over points (source clock)
  std::uint64_t last_seen_ns = 0;    ///< latest last_seen over points (source clock)
  std::uint64_t last_active_ns = 0;  ///< update time when any counter last grew
  /// @brief Set on a direction joined across a NAT (Aggregator::conversations): the
  /// translation (nat()), and the direction's key after it (translated_key()). The request's
  /// `key` is what the client sent (to the ClusterIP), its translated key goes to the
  /// backend; the reply's `key` comes from the backend, its translated key from the
  /// ClusterIP. Points carry PointStats::before_nat. Held out of line and shared by copies:
  /// few flows have one, and held inline it more than doubled every tracked flow's memory
  /// (docs/datapath.md, "Userspace memory").
  std::shared_ptr<const FlowNat> nat_join;

  /// @brief The translation of a direction joined across a NAT, else nullptr.
  [[nodiscard]] const model::NatRecord* nat() const { return nat_join ? &nat_join->record : nullptr; }
  /// @brief The direction's key after the translation (`key` when there is none).
  [[nodiscard]] const model::FlowKey& translated_key() const {
    return nat_join ? nat_join->translated_key : key;
  }
  /// @brief Marks the direction as joined across `nat`, `translated` being its key after it.
  void set_nat(const model::NatRecord& nat, const model::FlowKey& translated) {
    nat_join = std::make_shared<const FlowNat>(FlowNat{nat, translated});
  }

  /// @brief The key whose ends are the two pods: across a NAT the request after the
  /// translation (client -> backend), the reply before the reverse one (backend -> client);
  /// else `key`.
  [[nodiscard]] const model::FlowKey& between_key() const {
    return nat_join && key == nat_join->record.original ? nat_join->translated_key : key;
  }
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
  /// @brief Recomputes first/last seen and last active from the points.
  void settle_times();
};

/// @brief A 64-bit hash of every field of a flow key.
std::uint64_t hash_key(const model::FlowKey& key);

/// @brief The tracked flows. Positions are dense (0 .. size()-1) and stay valid until the
/// next insert() or erase(); erase() moves the last flow into the hole.
class FlowStore {
 public:
  static constexpr std::uint32_t kNone = 0xffffffffU;

  [[nodiscard]] std::size_t size() const { return flows_.size(); }
  [[nodiscard]] bool empty() const { return flows_.empty(); }
  [[nodiscard]] auto begin() const { return flows_.cbegin(); }
  [[nodiscard]] auto end() const { return flows_.cend(); }
  [[nodiscard]] const Flow& operator[](std::uint32_t pos) const { return flows_[pos]; }
  [[nodiscard]] Flow& operator[](std::uint32_t pos) { return flows_[pos]; }

  /// @brief Position of the flow with this key, or kNone.
  [[nodiscard]] std::uint32_t position(const model::FlowKey& key) const {
    return position(key, hash_key(key));
  }
  /// @brief position() of a key whose hash_key() is `hash`.
  [[nodiscard]] std::uint32_t position(const model::FlowKey& key, std::uint64_t hash) const;
  /// @brief The position of the first flow whose key's hash looks like `hash` (the index
  /// slot's tag matches; keys are not compared), or kNone: a guess, to check against the key.
  [[nodiscard]] std::uint32_t likely_position(std::uint64_t hash) const;
  /// @brief Starts loading the index slot where a key with this hash is looked up first: a
  /// hint, for lookups of many keys in random order, issued some keys ahead.
  void prefetch_slot(std::uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
  }
  /// @brief The flow with this key, or nullptr.
  [[nodiscard]] const Flow* find(const model::FlowKey& key) const;
  /// @brief 1 if a flow has this key, else 0 (as std::map::count).
  [[nodiscard]] std::size_t count(const model::FlowKey& key) const { return find(key) != nullptr ? 1 : 0; }
  /// @brief The flow with this key; throws std::out_of_range when there is none.
  [[nodiscard]] const Flow& at(const model::FlowKey& key) const;
  /// @brief Position of the flow's reverse direction (key.reversed()), or kNone when no
  /// reply has been seen (or the key is its own reverse).
  [[nodiscard]] std::uint32_t reverse_of(std::uint32_t pos) const { return reverse_[pos]; }

  /// @brief Adds a flow with this key (which must not be present), linked to its reverse
  /// direction if that is tracked; returns its position.
  std::uint32_t insert(const model::FlowKey& key);
  /// @brief Removes the flows at these positions (any order, no duplicates). Other flows
  /// may move: `moved(from, to)` is called for each flow that does, after it moved.
  void erase(std::vector<std::uint32_t> positions,
             const std::function<void(std::uint32_t from, std::uint32_t to)>& moved = {});

 private:
  struct Slot {
    std::uint32_t pos = kNone;  ///< position in flows_, kNone when empty
    std::uint32_t tag = 0;      ///< high bits of the key's hash: most mismatches stop here
  };
  [[nodiscard]] std::size_t slot_of(std::uint32_t pos) const;
  void place(std::uint32_t pos, std::uint64_t hash);
  void grow();
  void erase_one(std::uint32_t pos, const std::function<void(std::uint32_t, std::uint32_t)>& moved);

  // Read at random places (lookups, reverse links): in huge pages once large.
  std::vector<Flow, util::HugePageAllocator<Flow>> flows_;
  std::vector<std::uint32_t, util::HugePageAllocator<std::uint32_t>> reverse_;  // parallel to flows_
  std::vector<Slot, util::HugePageAllocator<Slot>> slots_;  // power-of-two size, linear probing
};

}  // namespace podpath::flows

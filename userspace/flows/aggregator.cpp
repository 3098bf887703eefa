#include "flows/aggregator.hpp"

#include <netinet/in.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <unordered_set>

namespace podpath::flows {
namespace {

constexpr double kNsPerSecond = 1e9;

/// How far ahead in the last read order a record found by key is looked for, to follow
/// the read order again after a run of deleted entries.
constexpr std::size_t kResyncWindow = 16;

/// The source's counters went backwards or the entry was created anew: the map entry
/// was evicted (LRU) or deleted and has started again.
bool was_reset(const model::FlowStats& before, const model::FlowStats& now) {
  return now.packets < before.packets || now.bytes < before.bytes ||
         (before.first_seen_ns != 0 && now.first_seen_ns != before.first_seen_ns);
}

}  // namespace

Result<UpdateSummary> Aggregator::update(std::uint64_t now_ns) {
  UpdateSummary summary;
  const std::uint64_t interval = updated_once_ && now_ns > last_update_ns_ ? now_ns - last_update_ns_ : 0;
  if (++update_id_ == 0) ++update_id_;  // 0 is "never read"
  now_ns_ = now_ns;
  seconds_ = static_cast<double>(interval) / kNsPerSecond;
  summary_ = &summary;
  retouched_ = 0;
  per_pool_.resize(std::max<std::size_t>(source_.pools(), 1), 0);
  auto read = read_source(summary);
  summary_ = nullptr;
  if (!read) return read.error();

  if (summary.full_read) {
    settle_all();
  } else {
    settle_changed();
  }
  rated_since_ = update_id_;
  // The flows touched now are the ones the next update settles with its own.
  std::swap(touched_before_, touched_);
  touched_.clear();
  if (touched_.capacity() > 2 * touched_before_.size() + 4096) touched_.shrink_to_fit();
  if (const std::vector<std::uint32_t> idle = idle_flows(); !idle.empty()) {
    std::vector<std::size_t> removed(per_pool_.size(), 0);
    for (const std::uint32_t pos : idle) removed[pool_index(flows_[pos])] += present_points(flows_[pos]);
    if (auto r = remove(idle); r) {
      summary.expired = idle.size();
      for (std::size_t i = 0; i < per_pool_.size(); ++i) per_pool_[i] -= removed[i];
    } else {
      // Keep them: forgetting flows whose entries survive would count them again later.
      spdlog::warn("cannot remove {} idle flows: {}", idle.size(), r.error().to_string());
    }
  }
  relieve_pressure(per_pool_, summary);
  read_nat();
  join_nat();

  entries_ = 0;
  for (const std::size_t n : per_pool_) entries_ += n;
  last_update_ns_ = now_ns;
  interval_ns_ = interval;
  updated_once_ = true;
  return summary;
}

// A changed-entries read when one is enough, else (or when its entry count shows that entries
// left the source unseen) a full read.
Result<void> Aggregator::read_source(UpdateSummary& summary) {
  const bool full_due =
      !updated_once_ || options_.full_read_every <= 1 || since_full_ + 1 >= options_.full_read_every;
  if (!full_due) {
    appeared_ = 0;
    cursor_ = 0;
    follows_order_ = false;
    auto changed = source_.read_changed(
        [this](std::span<const model::FlowRecord> records) { apply_unordered(records); });
    if (!changed) return changed.error();
    if (changed->complete) {  // the source read everything: as good as a full read
      since_full_ = 0;
      return {};
    }
    if (changed->held == entries_ + appeared_) {
      // Every entry it holds is one podpath holds: what was not read did not change.
      summary.full_read = false;
      ++since_full_;
      return {};
    }
    spdlog::debug("flows source holds {} entries, {} expected: reading every entry", changed->held,
                  entries_ + appeared_);
    summary.records = 0;
    rereading_ = true;
  }
  auto r = read_all();
  rereading_ = false;
  since_full_ = 0;
  return r;
}

// Only a full read records the order it read in (next_order_): between full reads, its
// array is given back (8 bytes an entry).
Result<void> Aggregator::read_all() {
  cursor_ = 0;
  next_order_.clear();
  next_order_.reserve(order_.size());
  ordering_ = true;
  auto read = source_.read([this](std::span<const model::FlowRecord> records) {
    for (const auto& rec : records) apply(rec);
  });
  ordering_ = false;
  if (read) std::swap(order_, next_order_);
  next_order_.clear();
  next_order_.shrink_to_fit();
  return read;
}

std::size_t Aggregator::pool_of(const Flow& flow) const {
  return std::min(source_.pool(flow.key), std::max<std::size_t>(source_.pools(), 1) - 1);
}

std::size_t Aggregator::pool_index(const Flow& flow) const {
  return per_pool_.size() > 1 ? pool_of(flow) : 0;
}

std::uint32_t Aggregator::present_points(const Flow& flow) {
  std::uint32_t n = 0;
  for (const auto& p : flow.points) n += p.present ? 1 : 0;
  return n;
}

Aggregator::EntryRef Aggregator::locate(const model::FlowRecord& rec, std::uint32_t found) {
  const auto matches = [&](EntryRef ref) {
    if (ref.flow >= flows_.size()) return false;
    const Flow& f = flows_[ref.flow];
    return ref.point < f.points.size() && f.points[ref.point].point == rec.point && f.key == rec.key;
  };
  // The entry after the previous record's, or one or two further (entries deleted since).
  const std::size_t n = order_.size();
  for (std::size_t k = cursor_; k < std::min(n, cursor_ + 3); ++k) {
    if (matches(order_[k])) {
      cursor_ = k + 1;
      ++cursor_hits_;
      return order_[k];
    }
  }
  // Guessed ahead (apply_ahead): a flow found then is still there (positions only change in
  // erase(), after the read) if its key is the record's; one not found may have been added
  // since.
  if (found == FlowStore::kNone || (found != kNotLookedUp && !(flows_[found].key == rec.key))) {
    found = kNotLookedUp;
  }
  EntryRef ref{found != kNotLookedUp ? found : flows_.position(rec.key), 0};
  if (ref.flow == FlowStore::kNone) return ref;
  const auto& points = flows_[ref.flow].points;
  ref.point = static_cast<std::uint32_t>(
      std::lower_bound(points.begin(), points.end(), rec.point,
                       [](const PointStats& p, const model::ObservationPoint& pt) { return p.point < pt; }) -
      points.begin());
  // Found by key: pick the read order up again from there if it is close ahead.
  for (std::size_t k = cursor_; k < std::min(n, cursor_ + kResyncWindow); ++k) {
    if (order_[k].flow == ref.flow && order_[k].point == ref.point) {
      cursor_ = k + 1;
      break;
    }
  }
  return ref;
}

// A changed-entries read: from the change log, records come in the order the entries changed
// (apply_ahead); from a walk of the source, in the last read's order (locate() follows it).
// Which one it is shows in how many records the previous batch found at the cursor.
void Aggregator::apply_unordered(std::span<const model::FlowRecord> records) {
  const std::size_t hits_before = cursor_hits_;
  if (follows_order_) {
    for (const auto& rec : records) apply(rec);
  } else {
    apply_ahead(records);
  }
  follows_order_ = (cursor_hits_ - hits_before) * 2 > records.size();
}

// Records in random order: applying one waits on three or four cache misses in a row (the
// index slot, the flow, its points, its neighbours in the activity order). Looked up a few
// records ahead, in stages, the misses of several records overlap: the slot is loaded
// 3 * kAhead records before the record is applied; 2 * kAhead before, the flow the slot
// names (its hash tag matches; the key is compared when the record is applied) and its place
// in the activity order; kAhead before, its points and its neighbours. Hints only: the
// record is then applied as any other.
void Aggregator::apply_ahead(std::span<const model::FlowRecord> records) {
  constexpr std::size_t kAhead = 4;
  constexpr std::size_t kRing = 4 * kAhead;  // holds the records between the stages
  struct Ahead {
    std::uint64_t hash = 0;
    std::uint32_t flow = FlowStore::kNone;
  };
  std::array<Ahead, kRing> ring{};
  const std::size_t n = records.size();
  const auto prefetch_activity = [this](std::uint32_t pos) {
    if (pos < activity_.size()) __builtin_prefetch(&activity_[pos]);
  };
  for (std::size_t i = 0; i < n + 3 * kAhead; ++i) {
    if (i < n) {
      Ahead& a = ring[i % kRing];
      a.hash = hash_key(records[i].key);
      flows_.prefetch_slot(a.hash);
    }
    if (i >= kAhead && i - kAhead < n) {
      Ahead& a = ring[(i - kAhead) % kRing];
      a.flow = flows_.likely_position(a.hash);
      if (a.flow != FlowStore::kNone) {
        const auto* flow = reinterpret_cast<const char*>(&flows_[a.flow]);
        __builtin_prefetch(flow);
        __builtin_prefetch(flow + sizeof(Flow) - 1);
        prefetch_activity(a.flow);
      }
    }
    if (i >= 2 * kAhead && i - 2 * kAhead < n) {
      const Ahead& a = ring[(i - 2 * kAhead) % kRing];
      if (a.flow != FlowStore::kNone) {
        const Flow& f = flows_[a.flow];
        if (!f.points.empty()) {
          const auto* points = reinterpret_cast<const char*>(f.points.data());
          __builtin_prefetch(points);
          __builtin_prefetch(points + sizeof(PointStats) - 1);
        }
        if (a.flow < activity_.size()) {
          const Activity& act = activity_[a.flow];
          if (act.prev != FlowStore::kNone) prefetch_activity(act.prev);
          if (act.next != FlowStore::kNone) prefetch_activity(act.next);
        }
      }
    }
    if (i >= 3 * kAhead) {
      const std::size_t j = i - 3 * kAhead;
      apply(records[j], ring[j % kRing].flow);
    }
  }
}

void Aggregator::apply(const model::FlowRecord& rec, std::uint32_t found) {
  ++summary_->records;
  EntryRef ref = locate(rec, found);
  if (ref.flow == FlowStore::kNone) {
    ref.flow = flows_.insert(rec.key);
    ++summary_->new_flows;
  }
  Flow& flow = flows_[ref.flow];
  if (ref.point >= flow.points.size() || !(flow.points[ref.point].point == rec.point)) {
    add_point(flow, ref.point, rec);
    touch(ref.flow);
    ++appeared_;
    ++per_pool_[pool_index(flow)];
    follow(ref);
    return;
  }
  PointStats& p = flow.points[ref.point];
  if (p.read_in == update_id_) {  // the same entry twice in one read: keep the first
    if (rereading_) follow(ref);  // ... unless it is the full read's first sight
    return;
  }
  p.read_in = update_id_;
  if (!p.present) {
    ++appeared_;
    ++per_pool_[pool_index(flow)];
  }
  p.present = true;
  follow(ref);
  if (rec.stats == p.stats) {  // idle: nothing to add, no rate
    p.delta_packets = p.delta_bytes = 0;
    p.pps = p.bps = 0;
    return;
  }
  if (was_reset(p.stats, rec.stats)) {
    ++summary_->resets;
    p.delta_packets = rec.stats.packets;
    p.delta_bytes = rec.stats.bytes;
  } else {
    p.delta_packets = rec.stats.packets - p.stats.packets;
    p.delta_bytes = rec.stats.bytes - p.stats.bytes;
  }
  p.stats = rec.stats;
  count_delta(p);
  flow.settle_times();
  if (p.delta_packets > 0 || p.delta_bytes > 0) touch(ref.flow);
}

void Aggregator::add_point(Flow& flow, std::uint32_t at, const model::FlowRecord& rec) {
  PointStats fresh;
  fresh.point = rec.point;
  fresh.stats = rec.stats;
  fresh.delta_packets = rec.stats.packets;
  fresh.delta_bytes = rec.stats.bytes;
  fresh.last_active_ns = now_ns_;
  fresh.read_in = update_id_;
  count_delta(fresh);
  flow.points.insert(flow.points.begin() + at, fresh);
  flow.settle_times();
}

void Aggregator::count_delta(PointStats& p) const {
  p.packets += p.delta_packets;
  p.bytes += p.delta_bytes;
  if (p.delta_packets > 0 || p.delta_bytes > 0) p.last_active_ns = now_ns_;
  p.pps = seconds_ > 0 ? static_cast<double>(p.delta_packets) / seconds_ : 0;
  p.bps = seconds_ > 0 ? static_cast<double>(p.delta_bytes) * 8.0 / seconds_ : 0;
}

// After a full read: every point not read is gone from the source (evicted, or deleted by
// someone else), and has no rate; the entries per pool are counted again.
void Aggregator::settle_all() {
  std::fill(per_pool_.begin(), per_pool_.end(), 0);
  for (std::uint32_t pos = 0; pos < flows_.size(); ++pos) {
    Flow& flow = flows_[pos];
    std::size_t present = 0;
    for (auto& p : flow.points) {
      if (p.read_in == update_id_) {
        ++present;
        continue;
      }
      p.present = false;
      if (p.delta_packets != 0 || p.delta_bytes != 0) {
        p.delta_packets = p.delta_bytes = 0;
        p.pps = p.bps = 0;
      }
    }
    per_pool_[pool_index(flow)] += present;
  }
}

// After a changed-entries read: a point not read did not change, so it has no rate. Only a
// point whose counters grew has one, and its flow was touched then: the flows touched since
// the last update that settled (touched_ and touched_before_) are the only ones visited. A
// position there may since name another flow, or none: such a flow has no rate to reset.
// The flows are in no useful order: each is loaded a few positions ahead.
void Aggregator::settle_changed() {
  constexpr std::size_t kAhead = 8;
  const std::size_t size = std::min(flows_.size(), activity_.size());  // the same after a read
  for (const auto* list : {&touched_before_, &touched_}) {
    if (list == &touched_before_ && retouched_ == touched_before_.size()) continue;  // all in touched_
    const std::size_t n = list->size();
    for (std::size_t i = 0; i < n; ++i) {
      if (i + 2 * kAhead < n && (*list)[i + 2 * kAhead] < size) {
        __builtin_prefetch(&flows_[(*list)[i + 2 * kAhead]]);
        __builtin_prefetch(&activity_[(*list)[i + 2 * kAhead]]);
      }
      if (i + kAhead < n && (*list)[i + kAhead] < size) {
        const auto& ahead = flows_[(*list)[i + kAhead]].points;
        if (!ahead.empty()) __builtin_prefetch(ahead.data());
      }
      const std::uint32_t pos = (*list)[i];
      if (pos >= size) continue;
      // Touched again in this update: visited with touched_.
      if (list == &touched_before_ && activity_[pos].touched_in == update_id_) continue;
      for (auto& p : flows_[pos].points) {
        if (p.read_in != update_id_ && (p.delta_packets != 0 || p.delta_bytes != 0)) {
          p.delta_packets = p.delta_bytes = 0;
          p.pps = p.bps = 0;
        }
      }
    }
  }
}

// The flows idle for longer than the timeout: the front of the activity order, up to the
// first flow that is not.
std::vector<std::uint32_t> Aggregator::idle_flows() const {
  std::vector<std::uint32_t> idle;
  for (std::uint32_t pos = oldest_; pos != FlowStore::kNone; pos = activity_[pos].next) {
    const Flow& flow = flows_[pos];
    if (now_ns_ <= flow.last_active_ns || now_ns_ - flow.last_active_ns <= options_.idle_timeout_ns) break;
    idle.push_back(pos);
  }
  return idle;
}

// The flow's counters grew, or it appeared: it moves to the end of the activity order (once
// per update). Every flow is in the order from the update that created it on.
void Aggregator::touch(std::uint32_t pos) {
  if (pos >= activity_.size()) activity_.resize(flows_.size());
  Activity& a = activity_[pos];
  if (a.touched_in == update_id_) return;
  if (a.touched_in == rated_since_) ++retouched_;  // in touched_before_ (once, unless moved)
  if (a.touched_in != 0) unlink(pos);
  a.touched_in = update_id_;
  touched_.push_back(pos);
  a.prev = newest_;
  a.next = FlowStore::kNone;
  if (newest_ != FlowStore::kNone) {
    activity_[newest_].next = pos;
  } else {
    oldest_ = pos;
  }
  newest_ = pos;
}

void Aggregator::unlink(std::uint32_t pos) {
  Activity& a = activity_[pos];
  if (a.prev != FlowStore::kNone) {
    activity_[a.prev].next = a.next;
  } else {
    oldest_ = a.next;
  }
  if (a.next != FlowStore::kNone) {
    activity_[a.next].prev = a.prev;
  } else {
    newest_ = a.prev;
  }
  a.prev = a.next = FlowStore::kNone;
}

// FlowStore::erase moved the flow at `from` into the hole at `to`: so does its place.
void Aggregator::moved(std::uint32_t from, std::uint32_t to) {
  const Activity a = activity_[from];
  activity_[to] = a;
  if (a.touched_in >= rated_since_) touched_before_.push_back(to);  // the next update settles it
  if (a.prev != FlowStore::kNone) {
    activity_[a.prev].next = to;
  } else {
    oldest_ = to;
  }
  if (a.next != FlowStore::kNone) {
    activity_[a.next].prev = to;
  } else {
    newest_ = to;
  }
}

Result<void> Aggregator::remove(const std::vector<std::uint32_t>& doomed) {
  std::vector<PointKey> entries;
  for (const std::uint32_t pos : doomed) {
    const Flow& flow = flows_[pos];
    for (const auto& p : flow.points) entries.push_back({p.point, flow.key});
  }
  if (auto r = source_.remove(entries); !r) return r;
  for (const std::uint32_t pos : doomed) unlink(pos);
  flows_.erase(doomed, [this](std::uint32_t from, std::uint32_t to) { moved(from, to); });
  activity_.resize(flows_.size());
  // Positions moved: the read order is rebuilt by the next read (its hints are checked).
  return {};
}

void Aggregator::relieve_pressure(std::vector<std::size_t>& per_pool, UpdateSummary& summary) {
  const std::size_t capacity = source_.capacity();
  if (capacity == 0) return;
  const auto high = static_cast<std::size_t>(static_cast<double>(capacity) * options_.high_water);
  const auto low = static_cast<std::size_t>(static_cast<double>(capacity) * options_.low_water);
  for (std::size_t pool = 0; pool < per_pool.size(); ++pool) {
    if (per_pool[pool] <= high) continue;
    // The flows holding entries in this pool, the ones to give up first at the front:
    // longest idle, then slowest, then oldest.
    struct Candidate {
      std::uint64_t last_active_ns;
      double pps;
      std::uint64_t first_seen_ns;
      std::uint32_t pos;
      std::uint32_t entries;
    };
    std::vector<Candidate> candidates;
    for (std::uint32_t pos = 0; pos < flows_.size(); ++pos) {
      const Flow& f = flows_[pos];
      if (pool_of(f) != pool) continue;
      if (const std::uint32_t n = present_points(f); n != 0) {
        candidates.push_back({f.last_active_ns, f.pps(), f.first_seen_ns, pos, n});
      }
    }
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
      if (a.last_active_ns != b.last_active_ns) return a.last_active_ns < b.last_active_ns;
      if (a.pps != b.pps) return a.pps < b.pps;
      return a.first_seen_ns < b.first_seen_ns;
    });
    std::vector<std::uint32_t> doomed;
    std::size_t left = per_pool[pool];
    for (const auto& c : candidates) {
      if (left <= low) break;
      doomed.push_back(c.pos);
      left -= c.entries;
    }
    if (auto r = remove(doomed); !r) {
      spdlog::warn("cannot evict {} flows from a full flows map: {}", doomed.size(), r.error().to_string());
      continue;
    }
    per_pool[pool] = left;
    summary.evicted += doomed.size();
    evicted_total_ += doomed.size();
  }
}

// The NAT records, without those none of whose four flow directions is left (deleted from
// the source; kept if that fails, like flows).
void Aggregator::read_nat() {
  auto records = source_.read_nat();
  if (!records) {
    spdlog::warn("cannot read the NAT translations: {}", records.error().to_string());
    return;
  }
  std::vector<model::NatRecord> keep;
  std::vector<model::NatRecord> gone;
  for (auto& r : *records) {
    const bool live = flows_.count(r.original) != 0 || flows_.count(r.translated()) != 0 ||
                      flows_.count(r.reply) != 0 || flows_.count(r.original.reversed()) != 0;
    (live ? keep : gone).push_back(std::move(r));
  }
  if (!gone.empty()) {
    if (auto removed = source_.remove_nat(gone); !removed) {
      spdlog::warn("cannot remove {} NAT translations: {}", gone.size(), removed.error().to_string());
    }
  }
  nat_ = std::move(keep);
}

namespace {

// One direction of a translated connection: the flow before the translation and the one
// after it, as one Flow (the union of their points, each marked before_nat or not).
std::optional<Flow> join_direction(const FlowStore& flows, const model::FlowKey& before,
                                   const model::FlowKey& after, const model::NatRecord& nat) {
  const Flow* b = flows.find(before);
  const Flow* a = flows.find(after);
  if (b == nullptr && a == nullptr) return std::nullopt;
  Flow joined;
  joined.key = before;
  joined.set_nat(nat, after);
  if (b != nullptr) {
    for (PointStats p : b->points) {
      p.before_nat = true;
      joined.points.push_back(p);
    }
  }
  if (a != nullptr) {
    for (const PointStats& p : a->points) joined.points.push_back(p);
  }
  std::sort(joined.points.begin(), joined.points.end(),
            [](const PointStats& x, const PointStats& y) { return x.point < y.point; });
  for (const Flow* f : {b, a}) {
    if (f == nullptr) continue;
    if (f->first_seen_ns != 0 && (joined.first_seen_ns == 0 || f->first_seen_ns < joined.first_seen_ns)) {
      joined.first_seen_ns = f->first_seen_ns;
    }
    joined.last_seen_ns = std::max(joined.last_seen_ns, f->last_seen_ns);
    joined.last_active_ns = std::max(joined.last_active_ns, f->last_active_ns);
  }
  return joined;
}

}  // namespace

// A connection a NAT translated has four flow directions (model::NatRecord): the request
// before and after the translation, the reply before and after the reverse one. Each pair
// becomes one direction, the two one conversation.
void Aggregator::join_nat() {
  joined_.clear();
  joined_conversations_.clear();
  in_joined_.assign(nat_.empty() ? 0 : flows_.size(), 0);
  // The keys of the connections joined so far (a key is joined once), tracked or not.
  const auto key_hash = [](const model::FlowKey& k) { return static_cast<std::size_t>(hash_key(k)); };
  std::unordered_set<model::FlowKey, decltype(key_hash)> taken(nat_.size() * 4, key_hash);
  for (const auto& nat : nat_) {
    if (taken.count(nat.original) != 0 || taken.count(nat.translated()) != 0) continue;
    auto request = join_direction(flows_, nat.original, nat.translated(), nat);
    auto reply = join_direction(flows_, nat.reply, nat.original.reversed(), nat);
    if (!request && !reply) continue;
    for (const auto& k : {nat.original, nat.translated(), nat.reply, nat.original.reversed()}) {
      taken.insert(k);
      if (const std::uint32_t pos = flows_.position(k); pos != FlowStore::kNone) in_joined_[pos] = 1;
    }
    if (request) {
      joined_.emplace_back(std::move(*request), std::move(reply));
    } else {
      joined_.emplace_back(std::move(*reply), std::nullopt);
    }
  }
  // joined_ is complete: its flows no longer move.
  joined_conversations_.reserve(joined_.size());
  for (const auto& [request, reply] : joined_) {
    joined_conversations_.push_back({&request, reply ? &*reply : nullptr});
  }
}

std::vector<Conversation> Aggregator::conversations() const { return select(SelectOptions{}).conversations; }

Selection Aggregator::select(const SelectOptions& options) const {
  return select_conversations(flows_, options, joined_conversations_, in_joined_);
}

}  // namespace podpath::flows

#include "flows/flow_store.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <stdexcept>

#include "util/hash.hpp"

namespace podpath::flows {
namespace {

// hash_key() reads every field of FlowKey: a new field must be hashed too.
static_assert(sizeof(model::FlowKey) == 40, "hash the new FlowKey field in hash_key()");

constexpr std::size_t kMinSlots = 1024;

}  // namespace

std::uint64_t hash_key(const model::FlowKey& key) {
  std::uint64_t w[4];
  std::memcpy(w, key.src.bytes.data(), 16);
  std::memcpy(w + 2, key.dst.bytes.data(), 16);
  const std::uint64_t rest = std::uint64_t{key.sport} | std::uint64_t{key.dport} << 16 |
                             std::uint64_t{key.proto} << 32 | std::uint64_t{key.fragment} << 40 |
                             std::uint64_t{key.v4_mapped_ipv6} << 41;
  std::uint64_t h = util::mix(w[0] ^ util::kHashSeed, w[1] ^ util::kHashMul);
  h = util::mix(h ^ w[2], w[3] ^ util::kHashMul);
  return util::mix(h ^ rest, util::kHashSeed);
}

std::uint64_t Flow::packets() const {
  std::uint64_t best = 0;
  for (const auto& p : points) best = std::max(best, p.packets);
  return best;
}

std::uint64_t Flow::bytes() const {
  std::uint64_t best = 0;
  for (const auto& p : points) best = std::max(best, p.bytes);
  return best;
}

double Flow::pps() const {
  double best = 0;
  for (const auto& p : points) best = std::max(best, p.pps);
  return best;
}

double Flow::bps() const {
  double best = 0;
  for (const auto& p : points) best = std::max(best, p.bps);
  return best;
}

std::uint32_t Flow::tcp_flags() const {
  std::uint32_t flags = 0;
  for (const auto& p : points) flags |= p.stats.tcp_flags;
  return flags;
}

const PointStats* Flow::at(const model::ObservationPoint& point) const {
  const auto it =
      std::find_if(points.begin(), points.end(), [&](const PointStats& p) { return p.point == point; });
  return it == points.end() ? nullptr : &*it;
}

void Flow::settle_times() {
  first_seen_ns = 0;
  last_seen_ns = 0;
  last_active_ns = 0;
  for (const auto& p : points) {
    if (p.stats.first_seen_ns != 0 && (first_seen_ns == 0 || p.stats.first_seen_ns < first_seen_ns)) {
      first_seen_ns = p.stats.first_seen_ns;
    }
    last_seen_ns = std::max(last_seen_ns, p.stats.last_seen_ns);
    last_active_ns = std::max(last_active_ns, p.last_active_ns);
  }
}

std::uint32_t FlowStore::position(const model::FlowKey& key, std::uint64_t full_hash) const {
  if (slots_.empty()) return kNone;
  const auto hash = static_cast<std::uint32_t>(full_hash);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.pos == kNone) return kNone;
    if (s.tag == hash && flows_[s.pos].key == key) return s.pos;
  }
}

std::uint32_t FlowStore::likely_position(std::uint64_t full_hash) const {
  if (slots_.empty()) return kNone;
  const auto hash = static_cast<std::uint32_t>(full_hash);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.pos == kNone || s.tag == hash) return s.pos;
  }
}

const Flow* FlowStore::find(const model::FlowKey& key) const {
  const std::uint32_t pos = position(key);
  return pos == kNone ? nullptr : &flows_[pos];
}

const Flow& FlowStore::at(const model::FlowKey& key) const {
  const Flow* f = find(key);
  if (f == nullptr) throw std::out_of_range("no such flow");
  return *f;
}

void FlowStore::place(std::uint32_t pos, std::uint64_t hash) {
  const auto tag = static_cast<std::uint32_t>(hash);
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = tag & mask;
  while (slots_[i].pos != kNone) i = (i + 1) & mask;
  slots_[i] = Slot{pos, tag};
}

void FlowStore::grow() {
  const std::size_t n = std::max(kMinSlots, slots_.size() * 2);
  slots_.assign(n, Slot{});
  for (std::uint32_t pos = 0; pos < flows_.size(); ++pos) place(pos, hash_key(flows_[pos].key));
}

std::uint32_t FlowStore::insert(const model::FlowKey& key) {
  // Load factor at most 0.7: probes stay short with linear probing.
  if ((flows_.size() + 1) * 10 > slots_.size() * 7) grow();
  const auto pos = static_cast<std::uint32_t>(flows_.size());
  flows_.emplace_back().key = key;
  reverse_.push_back(kNone);
  place(pos, hash_key(key));
  const model::FlowKey rkey = key.reversed();
  if (!(rkey == key)) {
    if (const std::uint32_t r = position(rkey); r != kNone) {
      reverse_[pos] = r;
      reverse_[r] = pos;
    }
  }
  return pos;
}

std::size_t FlowStore::slot_of(std::uint32_t pos) const {
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = static_cast<std::uint32_t>(hash_key(flows_[pos].key)) & mask;
  while (slots_[i].pos != pos) i = (i + 1) & mask;
  return i;
}

void FlowStore::erase_one(std::uint32_t pos, const std::function<void(std::uint32_t, std::uint32_t)>& moved) {
  if (const std::uint32_t r = reverse_[pos]; r != kNone) reverse_[r] = kNone;
  // Backward-shift deletion: later members of the probe run move up, so no tombstones.
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = slot_of(pos);
  for (std::size_t j = (hole + 1) & mask; slots_[j].pos != kNone; j = (j + 1) & mask) {
    const std::size_t home = slots_[j].tag & mask;
    // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
    const bool stays = hole < j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (stays) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole] = Slot{};

  const auto last = static_cast<std::uint32_t>(flows_.size() - 1);
  if (pos != last) {
    slots_[slot_of(last)].pos = pos;
    flows_[pos] = std::move(flows_[last]);
    reverse_[pos] = reverse_[last];
    if (reverse_[pos] != kNone) reverse_[reverse_[pos]] = pos;
    if (moved) moved(last, pos);
  }
  flows_.pop_back();
  reverse_.pop_back();
}

void FlowStore::erase(std::vector<std::uint32_t> positions,
                      const std::function<void(std::uint32_t from, std::uint32_t to)>& moved) {
  // Highest first: the flow moved into a hole always comes from beyond the positions left.
  std::sort(positions.begin(), positions.end(), std::greater<>());
  for (const std::uint32_t pos : positions) erase_one(pos, moved);
}

}  // namespace podpath::flows

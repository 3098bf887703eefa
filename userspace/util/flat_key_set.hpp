#pragma once
/// @file
/// @brief A set of fixed-size keys compared by their bytes, kept in the order they were
/// added: one array of keys and an open-addressing index over it. Built for the change log's
/// drain (bpf/datapath.cpp), which collects up to hundreds of thousands of distinct flows-map
/// keys per refresh: a node-based `std::unordered_set` allocated and chased a node per key
/// (docs/datapath.md, "The change log"). Arrays from 2 MiB on are mapped on their own
/// (HugePageAllocator): the index is read at random places, and a set given up returns its
/// memory to the system instead of leaving it in the heap.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "util/hash.hpp"
#include "util/huge_pages.hpp"

namespace podpath::util {

template <typename Key> class FlatKeySet {
  static_assert(std::is_trivially_copyable_v<Key> && sizeof(Key) % 8 == 0,
                "keys are hashed and compared as 64-bit words");

 public:
  /// Adds `key` if the set does not hold it; returns whether it did not.
  bool insert(const Key& key) {
    if ((keys_.size() + 1) * 2 > slots_.size()) grow();
    const std::uint64_t h = hash_words(&key, sizeof(Key));
    const std::size_t at = find(key, h);
    if (slots_[at].index != kEmpty) return false;
    slots_[at] = Slot{static_cast<std::uint32_t>(keys_.size()), static_cast<std::uint32_t>(h >> 32)};
    keys_.push_back(key);
    return true;
  }

  [[nodiscard]] bool contains(const Key& key) const {
    return !slots_.empty() && slots_[find(key, hash_words(&key, sizeof(Key)))].index != kEmpty;
  }

  [[nodiscard]] std::size_t size() const { return keys_.size(); }
  [[nodiscard]] bool empty() const { return keys_.empty(); }
  /// The keys, in the order they were first added.
  [[nodiscard]] auto begin() const { return keys_.begin(); }
  [[nodiscard]] auto end() const { return keys_.end(); }

 private:
  static constexpr std::uint32_t kEmpty = 0xffffffffU;
  static constexpr std::size_t kMinSlots = 64;
  struct Slot {
    std::uint32_t index = kEmpty;  ///< into keys_
    std::uint32_t tag = 0;         ///< the hash's upper half: most mismatches skip the key
  };

  // The slot that holds `key`, or the empty slot where it would go (the index is at most half
  // full, so one is always found).
  [[nodiscard]] std::size_t find(const Key& key, std::uint64_t h) const {
    const std::size_t mask = slots_.size() - 1;
    const auto tag = static_cast<std::uint32_t>(h >> 32);
    for (std::size_t i = static_cast<std::size_t>(h) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.index == kEmpty) return i;
      if (s.tag == tag && std::memcmp(&keys_[s.index], &key, sizeof(Key)) == 0) return i;
    }
  }

  void grow() {
    std::vector<Slot, HugePageAllocator<Slot>> slots(slots_.empty() ? kMinSlots : slots_.size() * 2);
    slots_.swap(slots);
    const std::size_t mask = slots_.size() - 1;
    for (std::uint32_t k = 0; k < keys_.size(); ++k) {
      const std::uint64_t h = hash_words(&keys_[k], sizeof(Key));
      std::size_t i = static_cast<std::size_t>(h) & mask;
      while (slots_[i].index != kEmpty) i = (i + 1) & mask;
      slots_[i] = Slot{k, static_cast<std::uint32_t>(h >> 32)};
    }
  }

  std::vector<Key, HugePageAllocator<Key>> keys_;
  std::vector<Slot, HugePageAllocator<Slot>> slots_;
};

}  // namespace podpath::util

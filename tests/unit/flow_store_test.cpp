// The aggregator's flow store: the hash index and the reverse links against a std::map
// model, through many inserts and erases (moves included).
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "flows/flow_store.hpp"

using podpath::flows::FlowStore;
using podpath::model::FlowKey;
using podpath::model::IpAddress;

namespace {

FlowKey udp(std::uint32_t src, std::uint32_t dst, std::uint16_t sport, std::uint16_t dport) {
  FlowKey k;
  k.src = IpAddress::from_v4_be(src);
  k.dst = IpAddress::from_v4_be(dst);
  k.sport = sport;
  k.dport = dport;
  k.proto = IPPROTO_UDP;
  return k;
}

/// Every key of the model is found at a position holding it, every reverse link points at
/// the reverse key's flow (a key that is its own reverse has none), and nothing else is in
/// the store.
void expect_consistent(const FlowStore& store, const std::set<FlowKey>& model) {
  ASSERT_EQ(store.size(), model.size());
  for (const auto& k : model) {
    const std::uint32_t pos = store.position(k);
    ASSERT_NE(pos, FlowStore::kNone);
    EXPECT_EQ(store[pos].key, k);
    const std::uint32_t r = store.reverse_of(pos);
    if (!(k.reversed() == k) && model.count(k.reversed()) != 0) {
      ASSERT_NE(r, FlowStore::kNone);
      EXPECT_EQ(store[r].key, k.reversed());
      EXPECT_EQ(store.reverse_of(r), pos);
    } else {
      EXPECT_EQ(r, FlowStore::kNone);
    }
  }
}

}  // namespace

TEST(FlowStore, FindsEveryFlowAndLinksEachToItsReverseThroughInsertsAndErases) {
  FlowStore store;
  std::set<FlowKey> model;
  std::mt19937 rng(7);
  // Few addresses and ports: many reverse pairs and many colliding probe runs.
  std::uniform_int_distribution<std::uint32_t> addr(1, 6);
  std::uniform_int_distribution<std::uint32_t> port(1, 40);
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 300; ++i) {
      const FlowKey k = udp(addr(rng), addr(rng), static_cast<std::uint16_t>(port(rng)),
                            static_cast<std::uint16_t>(port(rng)));
      if (model.insert(k).second) store.insert(k);
    }
    std::vector<std::uint32_t> doomed;
    std::vector<FlowKey> gone;
    for (const auto& k : model) {
      if (rng() % 5 == 0) {
        doomed.push_back(store.position(k));
        gone.push_back(k);
      }
    }
    store.erase(doomed);
    for (const auto& k : gone) model.erase(k);
    for (const auto& k : gone) EXPECT_EQ(store.find(k), nullptr);
    expect_consistent(store, model);
  }
  EXPECT_GT(model.size(), 1000u);  // the index grew several times
}

TEST(FlowStore, MapLikeAccess) {
  FlowStore store;
  const FlowKey k = udp(1, 2, 3, 4);
  EXPECT_EQ(store.count(k), 0u);
  EXPECT_THROW((void)store.at(k), std::out_of_range);
  store.insert(k);
  EXPECT_EQ(store.count(k), 1u);
  EXPECT_EQ(store.at(k).key, k);
  EXPECT_EQ(store.reverse_of(0), FlowStore::kNone);
  store.insert(k.reversed());
  EXPECT_EQ(store.reverse_of(0), 1u);
  store.erase({0});
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store[0].key, k.reversed());  // moved into the hole, unlinked
  EXPECT_EQ(store.reverse_of(0), FlowStore::kNone);
}

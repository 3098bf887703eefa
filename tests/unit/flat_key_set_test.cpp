// util::FlatKeySet: distinct keys by their bytes, in the order first added, across growth of
// its index; checked against std::set on a random stream with many repeats.
#include "util/flat_key_set.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

namespace {

using podpath::util::FlatKeySet;

struct Key24 {
  std::uint64_t w[3];
  bool operator<(const Key24& o) const {
    return std::array{w[0], w[1], w[2]} < std::array{o.w[0], o.w[1], o.w[2]};
  }
  bool operator==(const Key24& o) const = default;
};

TEST(FlatKeySet, AddsEachKeyOnceAndKeepsTheOrderOfFirstSight) {
  FlatKeySet<Key24> set;
  EXPECT_TRUE(set.empty());
  EXPECT_FALSE(set.contains(Key24{{1, 2, 3}}));
  EXPECT_TRUE(set.insert(Key24{{1, 2, 3}}));
  EXPECT_TRUE(set.insert(Key24{{1, 2, 4}}));  // differs in the last word only
  EXPECT_TRUE(set.insert(Key24{{0, 2, 3}}));  // in the first word only
  EXPECT_FALSE(set.insert(Key24{{1, 2, 3}}));
  EXPECT_FALSE(set.insert(Key24{{1, 2, 4}}));
  EXPECT_EQ(set.size(), 3U);
  EXPECT_TRUE(set.contains(Key24{{1, 2, 4}}));
  EXPECT_FALSE(set.contains(Key24{{2, 1, 3}}));
  const std::vector<Key24> want{{{1, 2, 3}}, {{1, 2, 4}}, {{0, 2, 3}}};
  EXPECT_EQ(std::vector<Key24>(set.begin(), set.end()), want);
}

TEST(FlatKeySet, MatchesAnOrderedSetOnARandomStreamAcrossGrowth) {
  std::mt19937_64 rng(7);
  FlatKeySet<Key24> set;
  std::set<Key24> seen;
  std::vector<Key24> order;
  for (int i = 0; i < 200'000; ++i) {
    // 50 000 distinct keys at most, so most draws after the first ones are repeats; the words
    // share most bits, as flows-map keys of one node do.
    const std::uint64_t r = rng() % 50'000;
    const Key24 k{
        {0x0000000300000007ULL, 0x0a0a810200000000ULL | (r >> 8), 0x0600001f90000000ULL | (r & 0xff)}};
    const bool fresh = seen.insert(k).second;
    if (fresh) order.push_back(k);
    ASSERT_EQ(set.insert(k), fresh) << "at draw " << i;
  }
  EXPECT_EQ(set.size(), seen.size());
  EXPECT_EQ(std::vector<Key24>(set.begin(), set.end()), order);
  for (const auto& k : seen) EXPECT_TRUE(set.contains(k));
  EXPECT_FALSE(set.contains(Key24{{1, 1, 1}}));
}

}  // namespace

// The flow aggregator over a fake FlowSource: deltas, rates, pairing, expiry, resets.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>

#include <map>

#include "flows/aggregator.hpp"

using podpath::flows::Aggregator;
using podpath::flows::AggregatorOptions;
using podpath::flows::FlowSource;
using podpath::flows::PointKey;
using podpath::model::Direction;
using podpath::model::FlowKey;
using podpath::model::FlowRecord;
using podpath::model::IpAddress;
using podpath::model::ObservationPoint;

namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ULL;

/// A map the test edits between updates, like the kernel would.
class FakeSource final : public FlowSource {
 public:
  std::map<PointKey, podpath::model::FlowStats> entries;
  std::vector<PointKey> removed;
  bool fail_read = false;
  bool fail_remove = false;

  podpath::Result<std::vector<FlowRecord>> read() override {
    if (fail_read) return podpath::make_error(EIO, "fake read failed");
    std::vector<FlowRecord> out;
    for (const auto& [k, s] : entries) out.push_back({k.point, k.key, s});
    return out;
  }
  podpath::Result<void> remove(const std::vector<PointKey>& keys) override {
    if (fail_remove) return podpath::make_error(EBUSY, "fake remove failed");
    for (const auto& k : keys) {
      entries.erase(k);
      removed.push_back(k);
    }
    return {};
  }
  /// Adds packets of 100 bytes at `point` for `key`, at time `t`.
  void count(const ObservationPoint& point, const FlowKey& key, std::uint64_t packets, std::uint64_t t) {
    auto& s = entries[{point, key}];
    if (s.packets == 0) s.first_seen_ns = t;
    s.packets += packets;
    s.bytes += packets * 100;
    s.last_seen_ns = t;
  }
};

FlowKey tcp(const char* src, const char* dst, std::uint16_t sport, std::uint16_t dport) {
  FlowKey k;
  k.src = *IpAddress::parse(src);
  k.dst = *IpAddress::parse(dst);
  k.sport = sport;
  k.dport = dport;
  k.proto = IPPROTO_TCP;
  return k;
}

/// An ICMP echo request with identifier `id` (the key's sport; dport holds type << 8).
FlowKey echo_request(const char* src, const char* dst, std::uint16_t id) {
  FlowKey k;
  k.src = *IpAddress::parse(src);
  k.dst = *IpAddress::parse(dst);
  k.proto = IPPROTO_ICMP;
  k.sport = id;
  k.dport = ICMP_ECHO << 8;
  return k;
}

const ObservationPoint kVeth{11, 5, Direction::Ingress};
const ObservationPoint kUplink{11, 2, Direction::Egress};

}  // namespace

TEST(Aggregator, MergesPointsIntoOneFlowWithDeltasAndRates) {
  FakeSource src;
  Aggregator agg(src);
  const FlowKey k = tcp("10.10.129.2", "10.10.130.2", 43512, 5432);
  src.count(kVeth, k, 10, 1 * kSecond);
  src.count(kUplink, k, 10, 1 * kSecond);
  auto s = agg.update(1 * kSecond);
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_EQ(s->records, 2u);
  EXPECT_EQ(s->new_flows, 1u);
  ASSERT_EQ(agg.flows().size(), 1u);
  const auto& f = agg.flows().at(k);
  ASSERT_EQ(f.points.size(), 2u);
  EXPECT_EQ(f.packets(), 10u);  // the same 10 packets at both points, not 20
  EXPECT_EQ(f.pps(), 0);        // no interval yet
  EXPECT_EQ(agg.interval_ns(), 0u);

  src.count(kVeth, k, 50, 3 * kSecond);
  src.count(kUplink, k, 40, 3 * kSecond);
  ASSERT_TRUE(agg.update(3 * kSecond));
  const auto& g = agg.flows().at(k);
  EXPECT_EQ(agg.interval_ns(), 2 * kSecond);
  EXPECT_EQ(g.at(kVeth)->delta_packets, 50u);
  EXPECT_DOUBLE_EQ(g.at(kVeth)->pps, 25.0);
  EXPECT_DOUBLE_EQ(g.at(kVeth)->bps, 50 * 100 * 8 / 2.0);
  EXPECT_DOUBLE_EQ(g.at(kUplink)->pps, 20.0);
  EXPECT_EQ(g.packets(), 60u);
  EXPECT_DOUBLE_EQ(g.pps(), 25.0);
  EXPECT_EQ(g.first_seen_ns, 1 * kSecond);
  EXPECT_EQ(g.last_seen_ns, 3 * kSecond);

  ASSERT_TRUE(agg.update(4 * kSecond));  // nothing new: rates drop to 0, totals stay
  EXPECT_EQ(agg.flows().at(k).pps(), 0);
  EXPECT_EQ(agg.flows().at(k).packets(), 60u);
}

TEST(Aggregator, PairsEachFlowWithItsReverseInitiatorFirst) {
  FakeSource src;
  Aggregator agg(src);
  const FlowKey req = tcp("10.10.129.2", "10.10.130.2", 43512, 5432);
  const FlowKey lonely = tcp("10.10.129.3", "8.8.8.8", 1000, 53);
  src.count(kVeth, req.reversed(), 5, 2 * kSecond);  // the reply is read first ...
  src.count(kVeth, req, 5, 1 * kSecond);             // ... but the request came first
  src.count(kVeth, lonely, 1, 1 * kSecond);
  ASSERT_TRUE(agg.update(3 * kSecond));
  const auto convs = agg.conversations();
  ASSERT_EQ(convs.size(), 2u);
  const auto& paired = convs[0].reverse != nullptr ? convs[0] : convs[1];
  const auto& single = convs[0].reverse != nullptr ? convs[1] : convs[0];
  EXPECT_EQ(paired.forward->key, req);
  EXPECT_EQ(paired.reverse->key, req.reversed());
  EXPECT_EQ(paired.packets(), 10u);
  EXPECT_EQ(single.forward->key, lonely);
  EXPECT_EQ(single.reverse, nullptr);
}

TEST(Aggregator, WithinOneClockTickTheClientDirectionLeads) {
  FakeSource src;
  Aggregator agg(src);
  // Request and reply share a coarse-clock tick: the direction towards the low (server)
  // port leads, even when the reply's key sorts first.
  const FlowKey req = tcp("10.10.130.2", "10.10.129.3", 39726, 8080);
  src.count(kVeth, req.reversed(), 3, 1 * kSecond);
  src.count(kVeth, req, 3, 1 * kSecond + 2'000'000);
  // ICMP: the echo request leads.
  const FlowKey ping = echo_request("10.10.130.2", "10.10.129.2", 7);
  src.count(kVeth, ping.reversed(), 1, 1 * kSecond);
  src.count(kVeth, ping, 1, 1 * kSecond);
  ASSERT_TRUE(agg.update(2 * kSecond));
  for (const auto& c : agg.conversations()) {
    ASSERT_NE(c.reverse, nullptr);
    EXPECT_EQ(c.forward->key, c.forward->key.proto == IPPROTO_TCP ? req : ping);
  }
}

TEST(Aggregator, AnEchoRequestLeadsEvenWhenItsReplyWasSeenFirst) {
  // podpath attached in the middle of a ping, the reply's interface before the request's:
  // the reply's first packet is a second older, but the request is still the initiator.
  FakeSource src;
  Aggregator agg(src);
  const FlowKey ping = echo_request("10.10.129.2", "10.10.130.2", 4);
  src.count(kVeth, ping.reversed(), 5, 1 * kSecond);
  src.count(kVeth, ping, 4, 2 * kSecond);
  ASSERT_TRUE(agg.update(3 * kSecond));
  const auto convs = agg.conversations();
  ASSERT_EQ(convs.size(), 1u);
  EXPECT_EQ(convs[0].forward->key, ping);
}

TEST(Aggregator, ConversationsAreBusiestFirst) {
  FakeSource src;
  Aggregator agg(src);
  const FlowKey a = tcp("10.10.129.2", "10.10.130.2", 1, 80);
  const FlowKey b = tcp("10.10.129.3", "10.10.130.3", 2, 80);
  src.count(kVeth, a, 1, kSecond);
  src.count(kVeth, b, 1, kSecond);
  ASSERT_TRUE(agg.update(kSecond));
  src.count(kVeth, a, 1, 2 * kSecond);
  src.count(kVeth, b, 100, 2 * kSecond);
  ASSERT_TRUE(agg.update(2 * kSecond));
  const auto convs = agg.conversations();
  ASSERT_EQ(convs.size(), 2u);
  EXPECT_EQ(convs[0].forward->key, b);
  EXPECT_GT(convs[0].bps(), convs[1].bps());
}

TEST(Aggregator, ExpiresIdleFlowsAndRemovesTheirEntries) {
  FakeSource src;
  AggregatorOptions o;
  o.idle_timeout_ns = 10 * kSecond;
  Aggregator agg(src, o);
  const FlowKey idle = tcp("10.10.129.2", "10.10.130.2", 1, 80);
  const FlowKey busy = tcp("10.10.129.3", "10.10.130.3", 2, 80);
  src.count(kVeth, idle, 3, kSecond);
  src.count(kUplink, idle, 3, kSecond);
  src.count(kVeth, busy, 3, kSecond);
  ASSERT_TRUE(agg.update(kSecond));
  for (std::uint64_t t = 2; t <= 11; ++t) {
    src.count(kVeth, busy, 1, t * kSecond);
    auto s = agg.update(t * kSecond);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->expired, 0u) << t;  // idle for 10 s exactly is not yet "longer than"
  }
  src.count(kVeth, busy, 1, 12 * kSecond);
  auto s = agg.update(12 * kSecond);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->expired, 1u);
  EXPECT_EQ(agg.flows().count(idle), 0u);
  EXPECT_EQ(agg.flows().count(busy), 1u);
  ASSERT_EQ(src.removed.size(), 2u);  // both points of the idle flow
  EXPECT_EQ(src.removed[0].key, idle);
  EXPECT_EQ(src.entries.size(), 1u);
}

TEST(Aggregator, KeepsFlowsWhoseRemovalFailed) {
  FakeSource src;
  AggregatorOptions o;
  o.idle_timeout_ns = kSecond;
  Aggregator agg(src, o);
  const FlowKey k = tcp("10.10.129.2", "10.10.130.2", 1, 80);
  src.count(kVeth, k, 3, kSecond);
  ASSERT_TRUE(agg.update(kSecond));
  src.fail_remove = true;
  auto s = agg.update(5 * kSecond);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->expired, 0u);
  EXPECT_EQ(agg.flows().count(k), 1u);
  EXPECT_EQ(agg.flows().at(k).packets(), 3u);  // not counted twice
  src.fail_remove = false;
  s = agg.update(6 * kSecond);
  EXPECT_EQ(s->expired, 1u);
}

TEST(Aggregator, EvictedAndRecreatedEntriesNeverGiveNegativeRates) {
  FakeSource src;
  Aggregator agg(src);
  const FlowKey k = tcp("10.10.129.2", "10.10.130.2", 1, 80);
  src.count(kVeth, k, 100, kSecond);
  ASSERT_TRUE(agg.update(kSecond));

  src.entries.clear();  // evicted by the kernel (LRU)
  auto s = agg.update(2 * kSecond);
  ASSERT_TRUE(s);
  const auto* p = agg.flows().at(k).at(kVeth);
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->present);
  EXPECT_EQ(p->pps, 0);
  EXPECT_EQ(p->packets, 100u);

  src.count(kVeth, k, 4, 3 * kSecond);  // recreated: counts from 0 again
  s = agg.update(3 * kSecond);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->resets, 1u);  // a new entry under an old key
  p = agg.flows().at(k).at(kVeth);
  EXPECT_TRUE(p->present);
  EXPECT_EQ(p->delta_packets, 4u);
  EXPECT_DOUBLE_EQ(p->pps, 4.0);
  EXPECT_EQ(p->packets, 104u);

  // Evicted and recreated between two reads: the counter shrinks.
  src.entries.clear();
  src.count(kVeth, k, 2, 4 * kSecond);
  s = agg.update(4 * kSecond);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->resets, 1u);
  p = agg.flows().at(k).at(kVeth);
  EXPECT_EQ(p->delta_packets, 2u);
  EXPECT_GE(p->pps, 0);
  EXPECT_EQ(p->packets, 106u);
}

TEST(Aggregator, AFailedReadChangesNothing) {
  FakeSource src;
  Aggregator agg(src);
  const FlowKey k = tcp("10.10.129.2", "10.10.130.2", 1, 80);
  src.count(kVeth, k, 1, kSecond);
  ASSERT_TRUE(agg.update(kSecond));
  src.fail_read = true;
  const auto s = agg.update(2 * kSecond);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, EIO);
  EXPECT_EQ(agg.flows().size(), 1u);
}

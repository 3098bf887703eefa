// The flow aggregator over a fake FlowSource: deltas, rates, pairing, expiry, resets.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>

#include <algorithm>
#include <map>
#include <random>
#include <span>

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
  std::vector<podpath::model::NatRecord> nat;
  std::vector<podpath::model::NatRecord> nat_removed;
  bool fail_read = false;
  bool fail_remove = false;
  bool shuffle = false;   ///< hand the entries over in a different order every read
  std::size_t batch = 3;  ///< records per call of the sink
  /// read_changed() hands over only the entries counted since the previous read, as the BPF
  /// iterator does (else it reads everything, the default of FlowSource).
  bool changed_reads = false;
  std::size_t changed_read_calls = 0;
  std::map<PointKey, std::uint64_t> version;  ///< count() that last touched each entry
  std::uint64_t counted = 0;                  ///< count() calls so far
  std::uint64_t read_mark = 0;                ///< `counted` when the last read started
  std::size_t capacity_ = 0;
  std::mt19937 rng{1};

  podpath::Result<void> read(const podpath::flows::RecordSink& sink) override {
    if (fail_read) return podpath::make_error(EIO, "fake read failed");
    read_mark = counted;
    return hand_over(sink, 0);
  }
  podpath::Result<podpath::flows::ChangedRead> read_changed(const podpath::flows::RecordSink& sink) override {
    if (!changed_reads) return FlowSource::read_changed(sink);
    if (fail_read) return podpath::make_error(EIO, "fake read failed");
    ++changed_read_calls;
    const std::uint64_t since = read_mark;
    read_mark = counted;
    if (auto r = hand_over(sink, since + 1); !r) return r.error();
    return podpath::flows::ChangedRead{false, entries.size()};
  }
  // Entries last counted at version `from` or later (0: all), in batches of 3.
  podpath::Result<void> hand_over(const podpath::flows::RecordSink& sink, std::uint64_t from) {
    std::vector<FlowRecord> out;
    for (const auto& [k, s] : entries) {
      if (from == 0 || version[k] >= from) out.push_back({k.point, k.key, s});
    }
    if (shuffle) std::shuffle(out.begin(), out.end(), rng);
    // In batches, as the BPF source hands them over.
    for (std::size_t i = 0; i < out.size(); i += batch) {
      sink(std::span<const FlowRecord>(out).subspan(i, std::min<std::size_t>(batch, out.size() - i)));
    }
    return {};
  }
  podpath::Result<void> remove(const std::vector<PointKey>& keys) override {
    if (fail_remove) return podpath::make_error(EBUSY, "fake remove failed");
    for (const auto& k : keys) {
      entries.erase(k);
      removed.push_back(k);
    }
    return {};
  }
  [[nodiscard]] std::size_t capacity() const override { return capacity_; }
  podpath::Result<std::vector<podpath::model::NatRecord>> read_nat() override { return nat; }
  podpath::Result<void> remove_nat(const std::vector<podpath::model::NatRecord>& records) override {
    for (const auto& r : records) {
      std::erase(nat, r);
      nat_removed.push_back(r);
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
    version[{point, key}] = ++counted;
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

TEST(Aggregator, TheReadOrderDoesNotChangeTheResult) {
  // The aggregator follows the source's order to find entries fast; any other order, with
  // entries appearing and disappearing between reads, must give the same flows.
  FakeSource in_order, shuffled;
  shuffled.shuffle = true;
  AggregatorOptions o;
  o.idle_timeout_ns = 5 * kSecond;
  Aggregator a(in_order, o), b(shuffled, o);
  std::mt19937 rng(3);
  const ObservationPoint points[] = {kVeth, kUplink, {12, 7, Direction::Egress}};
  for (std::uint64_t t = 1; t <= 40; ++t) {
    for (int i = 0; i < 30; ++i) {
      const FlowKey k =
          tcp(rng() % 2 ? "10.10.129.2" : "10.10.130.2", rng() % 2 ? "10.10.129.3" : "10.10.130.3",
              static_cast<std::uint16_t>(rng() % 20), static_cast<std::uint16_t>(rng() % 20));
      const ObservationPoint& p = points[rng() % 3];
      const std::uint64_t n = rng() % 5;
      in_order.count(p, k, n, t * kSecond);
      shuffled.count(p, k, n, t * kSecond);
    }
    for (int i = 0; i < 3 && !in_order.entries.empty(); ++i) {  // the kernel evicts some
      auto it = in_order.entries.begin();
      std::advance(it, rng() % in_order.entries.size());
      shuffled.entries.erase(it->first);
      in_order.entries.erase(it);
    }
    auto sa = a.update(t * kSecond);
    auto sb = b.update(t * kSecond);
    ASSERT_TRUE(sa && sb);
    EXPECT_EQ(sa->records, sb->records);
    EXPECT_EQ(sa->new_flows, sb->new_flows);
    EXPECT_EQ(sa->resets, sb->resets);
    EXPECT_EQ(sa->expired, sb->expired);
    ASSERT_EQ(a.flows().size(), b.flows().size()) << t;
    for (const auto& f : a.flows()) {
      const auto* g = b.flows().find(f.key);
      ASSERT_NE(g, nullptr);
      ASSERT_EQ(f.points.size(), g->points.size());
      for (std::size_t i = 0; i < f.points.size(); ++i) {
        EXPECT_EQ(f.points[i].point, g->points[i].point);
        EXPECT_EQ(f.points[i].packets, g->points[i].packets);
        EXPECT_EQ(f.points[i].delta_packets, g->points[i].delta_packets);
        EXPECT_EQ(f.points[i].present, g->points[i].present);
        EXPECT_DOUBLE_EQ(f.points[i].pps, g->points[i].pps);
      }
      EXPECT_EQ(f.last_active_ns, g->last_active_ns);
    }
  }
  EXPECT_GT(a.flows().size(), 100u);
}

TEST(Aggregator, UnderMapPressureEvictsTheQuietestAndOldestAndKeepsCountingTheRest) {
  FakeSource src;
  src.capacity_ = 10;  // high water 9 entries, low water 8
  Aggregator agg(src);
  std::vector<FlowKey> idle, busy;
  for (std::uint16_t i = 0; i < 6; ++i) {  // created a second apart, then never again
    idle.push_back(tcp("10.10.129.2", "10.10.130.2", static_cast<std::uint16_t>(1000 + i), 80));
    src.count(kVeth, idle.back(), 5, (1 + i) * kSecond);
  }
  auto s = agg.update(6 * kSecond);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->evicted, 0u);  // 6 entries: no pressure

  for (std::uint16_t i = 0; i < 4; ++i) busy.push_back(tcp("10.10.129.3", "10.10.130.3", 2000 + i, 80));
  std::uint64_t busy_packets = 0;
  const auto tick = [&](std::uint64_t t) {
    for (const auto& k : busy) src.count(kVeth, k, 10, t * kSecond);
    busy_packets += 10;
    return agg.update(t * kSecond);
  };
  s = tick(7);  // 10 entries > 9: down to 8, the two oldest idle flows go
  ASSERT_TRUE(s);
  EXPECT_EQ(s->evicted, 2u);
  EXPECT_EQ(agg.entries(), 8u);
  EXPECT_EQ(agg.flows().count(idle[0]), 0u);
  EXPECT_EQ(agg.flows().count(idle[1]), 0u);
  EXPECT_EQ(src.entries.count({kVeth, idle[0]}), 0u);  // removed from the source too
  EXPECT_EQ(src.entries.size(), 8u);

  const FlowKey fresh = tcp("10.10.129.4", "10.10.130.4", 3000, 80);
  src.count(kVeth, fresh, 1, 8 * kSecond);
  s = tick(8);  // 9 entries: at the high-water mark, not above
  ASSERT_TRUE(s);
  EXPECT_EQ(s->evicted, 0u);

  // The oldest evicted flow comes back: it starts from its new entry, nothing counted twice.
  src.count(kVeth, idle[0], 3, 9 * kSecond);
  s = tick(9);  // 10 entries: the idle ones go first (idle[2], idle[3]), not the new ones
  ASSERT_TRUE(s);
  EXPECT_EQ(s->evicted, 2u);
  EXPECT_EQ(agg.flows().count(idle[2]), 0u);
  EXPECT_EQ(agg.flows().count(idle[3]), 0u);
  ASSERT_EQ(agg.flows().count(idle[0]), 1u);
  EXPECT_EQ(agg.flows().at(idle[0]).packets(), 3u);
  EXPECT_EQ(agg.flows().at(fresh).packets(), 1u);
  EXPECT_EQ(agg.flows().at(idle[4]).packets(), 5u);
  for (const auto& k : busy) EXPECT_EQ(agg.flows().at(k).packets(), busy_packets);  // no count lost
  EXPECT_EQ(agg.evicted_total(), 4u);
  EXPECT_EQ(src.removed.size(), 4u);
}

TEST(Aggregator, AFailedEvictionForgetsNothing) {
  FakeSource src;
  src.capacity_ = 2;
  Aggregator agg(src);
  const FlowKey a = tcp("10.10.129.2", "10.10.130.2", 1, 80);
  const FlowKey b = tcp("10.10.129.3", "10.10.130.3", 2, 80);
  src.count(kVeth, a, 1, kSecond);
  src.count(kVeth, b, 1, kSecond);
  src.count(kUplink, b, 1, kSecond);
  src.fail_remove = true;
  auto s = agg.update(kSecond);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->evicted, 0u);
  EXPECT_EQ(agg.flows().size(), 2u);
}

TEST(Aggregator, SelectsTheBusiestConversationsOfThoseAFilterKeeps) {
  FakeSource src;
  Aggregator agg(src);
  std::vector<FlowKey> keys;
  for (std::uint16_t i = 0; i < 40; ++i) {
    keys.push_back(tcp("10.10.129.2", "10.10.130.2", static_cast<std::uint16_t>(40000 + i), 80));
    src.count(kVeth, keys.back(), 1, kSecond);
    if (i % 4 == 0) src.count(kVeth, keys.back().reversed(), 1, kSecond);  // some with a reply
  }
  ASSERT_TRUE(agg.update(kSecond));
  for (std::uint16_t i = 0; i < 40; ++i) src.count(kVeth, keys[i], (i * 7) % 40 + 1, 2 * kSecond);
  ASSERT_TRUE(agg.update(2 * kSecond));

  const auto all = agg.conversations();
  ASSERT_EQ(all.size(), 40u);
  podpath::flows::SelectOptions o;
  o.limit = 5;
  auto top = agg.select(o);
  EXPECT_EQ(top.total, 40u);
  EXPECT_EQ(top.matching, 40u);
  ASSERT_EQ(top.shown(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(top.conversations[i].forward, all[i].forward) << i;

  o.keep = [](const podpath::flows::Conversation& c) { return c.forward->key.sport % 2 == 0; };
  o.order = podpath::flows::ConversationOrder::Packets;
  top = agg.select(o);
  EXPECT_EQ(top.total, 40u);
  EXPECT_EQ(top.matching, 20u);
  ASSERT_EQ(top.shown(), 5u);
  for (std::size_t i = 0; i < top.shown(); ++i) {
    EXPECT_EQ(top.conversations[i].forward->key.sport % 2, 0);
    if (i > 0) {
      EXPECT_GE(top.conversations[i - 1].packets(), top.conversations[i].packets());
    }
  }
  o.limit = 0;  // all that match, in order
  EXPECT_EQ(agg.select(o).shown(), 20u);
}

// ---------------------------------------------------------------------------- NAT joining

namespace {

const ObservationPoint kCbr0In{11, 4, Direction::Ingress};
const ObservationPoint kCbr0Out{11, 4, Direction::Egress};
const ObservationPoint kVeth2Out{11, 6, Direction::Egress};
const ObservationPoint kRemoteIn{12, 2, Direction::Ingress};
const ObservationPoint kUplinkIn{11, 2, Direction::Ingress};

/// kube-proxy's DNAT of `original` (client -> ClusterIP:port) to `backend`:`port`, made
/// in namespace 11.
podpath::model::NatRecord dnat(const FlowKey& original, const char* backend, std::uint16_t port) {
  podpath::model::NatRecord r;
  r.point = kUplink;
  r.original = original;
  r.reply = original.reversed();
  r.reply.src = *IpAddress::parse(backend);
  r.reply.sport = port;
  r.dnat = true;
  return r;
}

/// One connection through the Service at time t: the request (before the DNAT at the client's
/// veth and cbr0 ingress, after it where it leaves), the reply (before the reverse DNAT where it
/// comes in, after it towards the client).
void converse(FakeSource& src, const podpath::model::NatRecord& nat, bool remote, std::uint64_t packets,
              std::uint64_t t) {
  src.count(kVeth, nat.original, packets, t);
  src.count(kCbr0In, nat.original, packets, t);
  src.count(remote ? kUplink : kCbr0Out, nat.translated(), packets, t);
  if (remote) src.count(kRemoteIn, nat.translated(), packets, t);
  src.count(remote ? kUplinkIn : kCbr0In, nat.reply, packets, t + 1000);
  src.count(kCbr0Out, nat.original.reversed(), packets, t + 1000);
}

}  // namespace

TEST(AggregatorNat, JoinsTheFourDirectionsOfATranslatedConnectionIntoOneConversation) {
  FakeSource src;
  const auto nat = dnat(tcp("10.10.129.2", "10.96.0.10", 40000, 80), "10.10.130.2", 8080);
  src.nat = {nat};
  converse(src, nat, true, 5, kSecond);
  Aggregator agg(src);
  ASSERT_TRUE(agg.update(2 * kSecond));

  const auto convs = agg.conversations();
  ASSERT_EQ(convs.size(), 1U);
  const auto& c = convs[0];
  ASSERT_NE(c.forward, nullptr);
  ASSERT_NE(c.reverse, nullptr);
  ASSERT_NE(c.forward->nat(), nullptr);
  EXPECT_EQ(c.forward->key, nat.original);
  EXPECT_EQ(c.forward->translated_key(), tcp("10.10.129.2", "10.10.130.2", 40000, 8080));
  EXPECT_EQ(c.reverse->key, nat.reply);
  EXPECT_EQ(c.reverse->translated_key(), tcp("10.96.0.10", "10.10.129.2", 80, 40000));
  // Every point of the request: two before the DNAT, two after, 5 packets each.
  ASSERT_EQ(c.forward->points.size(), 4U);
  EXPECT_EQ(c.forward->packets(), 5U);
  for (const auto& p : c.forward->points) {
    EXPECT_EQ(p.packets, 5U);
    EXPECT_EQ(p.before_nat, p.point == kVeth || p.point == kCbr0In) << p.point.ifindex;
  }
  ASSERT_EQ(c.reverse->points.size(), 2U);
  EXPECT_TRUE(c.reverse->at(kUplinkIn)->before_nat);
  EXPECT_FALSE(c.reverse->at(kCbr0Out)->before_nat);
}

TEST(AggregatorNat, APortReusedByTwoClientsJoinsEachToItsOwnBackend) {
  FakeSource src;
  // Two pods, the same ephemeral port, the same Service: kube-proxy picked two backends.
  const auto a = dnat(tcp("10.10.129.2", "10.96.0.10", 40000, 80), "10.10.130.2", 8080);
  const auto b = dnat(tcp("10.10.129.3", "10.96.0.10", 40000, 80), "10.10.129.4", 8080);
  src.nat = {a, b};
  converse(src, a, true, 3, kSecond);
  converse(src, b, false, 7, kSecond);
  Aggregator agg(src);
  ASSERT_TRUE(agg.update(2 * kSecond));

  const auto convs = agg.conversations();
  ASSERT_EQ(convs.size(), 2U);
  for (const auto& c : convs) {
    ASSERT_NE(c.forward, nullptr);
    ASSERT_NE(c.reverse, nullptr);
    ASSERT_NE(c.forward->nat(), nullptr);
    const bool is_a = c.forward->key.src == a.original.src;
    const auto& nat = is_a ? a : b;
    EXPECT_EQ(c.forward->key, nat.original);
    EXPECT_EQ(c.forward->translated_key(), nat.translated());
    EXPECT_EQ(c.reverse->key, nat.reply);
    EXPECT_EQ(c.forward->packets(), is_a ? 3U : 7U);
    EXPECT_EQ(c.reverse->packets(), is_a ? 3U : 7U);
    // Client a's connection left over the uplink; b's stayed on the node (cbr0 egress).
    EXPECT_EQ(c.forward->at(kUplink) != nullptr, is_a);
    EXPECT_EQ(c.forward->at(kCbr0Out) != nullptr, !is_a);
  }
}

TEST(AggregatorNat, ATranslationGoesWithTheLastOfItsFlows) {
  FakeSource src;
  const auto nat = dnat(tcp("10.10.129.2", "10.96.0.10", 40000, 80), "10.10.130.2", 8080);
  src.nat = {nat};
  converse(src, nat, true, 2, kSecond);
  AggregatorOptions o;
  o.idle_timeout_ns = 10 * kSecond;
  Aggregator agg(src, o);
  ASSERT_TRUE(agg.update(2 * kSecond));
  EXPECT_EQ(agg.nat().size(), 1U);
  ASSERT_TRUE(agg.update(30 * kSecond));  // idle: every flow expires, then the translation
  EXPECT_TRUE(agg.flows().empty());
  EXPECT_TRUE(agg.nat().empty());
  ASSERT_EQ(src.nat_removed.size(), 1U);
  EXPECT_EQ(src.nat_removed[0], nat);
  EXPECT_TRUE(agg.conversations().empty());
}

TEST(AggregatorNat, WithoutTranslationsFlowsPairAsBefore) {
  FakeSource src;
  const auto k = tcp("10.10.129.2", "10.10.130.2", 40000, 8080);
  src.count(kVeth, k, 1, kSecond);
  src.count(kUplinkIn, k.reversed(), 1, kSecond);
  Aggregator agg(src);
  ASSERT_TRUE(agg.update(2 * kSecond));
  const auto convs = agg.conversations();
  ASSERT_EQ(convs.size(), 1U);
  EXPECT_EQ(convs[0].forward->nat(), nullptr);
  ASSERT_NE(convs[0].reverse, nullptr);
}

TEST(AggregatorNat, TheSelectionListsAJoinedConversationOnceAndNotItsFlows) {
  FakeSource src;
  const auto nat = dnat(tcp("10.10.129.2", "10.96.0.10", 40000, 80), "10.10.130.2", 8080);
  src.nat = {nat};
  converse(src, nat, true, 9, kSecond);
  for (std::uint16_t i = 0; i < 5; ++i) {  // quieter plain conversations around it
    const auto k = tcp("10.10.129.3", "10.10.130.3", static_cast<std::uint16_t>(41000 + i), 8080);
    src.count(kVeth, k, 1 + i, kSecond);
    src.count(kUplinkIn, k.reversed(), 1, kSecond);
  }
  Aggregator agg(src);
  ASSERT_TRUE(agg.update(2 * kSecond));
  ASSERT_EQ(agg.flows().size(), 14U);  // 4 of the translated connection, 10 plain

  podpath::flows::SelectOptions o;
  o.order = podpath::flows::ConversationOrder::Packets;
  auto all = agg.select(o);
  EXPECT_EQ(all.total, 6U);  // the joined one and 5 plain ones: its 4 flows are not listed
  ASSERT_EQ(all.shown(), 6U);
  ASSERT_NE(all.conversations[0].forward->nat(), nullptr);
  EXPECT_EQ(all.conversations[0].packets(), 18U);
  for (std::size_t i = 1; i < all.shown(); ++i) {
    EXPECT_EQ(all.conversations[i].forward->nat(), nullptr);
    EXPECT_NE(all.conversations[i].forward->key.dst, *IpAddress::parse("10.96.0.10"));
    EXPECT_NE(all.conversations[i].forward->key.src, *IpAddress::parse("10.10.130.2"));
  }

  o.limit = 2;
  o.keep = [](const podpath::flows::Conversation& c) { return c.forward->nat() == nullptr; };
  auto plain = agg.select(o);
  EXPECT_EQ(plain.total, 6U);
  EXPECT_EQ(plain.matching, 5U);
  ASSERT_EQ(plain.shown(), 2U);
  EXPECT_EQ(plain.conversations[0].forward->key.sport, 41004);
  EXPECT_EQ(plain.conversations[1].forward->key.sport, 41003);
}

// Changed-entries reads give what full reads give: two aggregators over two copies of one
// random history (packets, new flows, entries evicted behind their back, idle expiry), one
// reading everything at every update, the other only the entries counted since its last read
// (with a full read every 4 updates), agree on every counter, delta, rate and presence.
namespace {

// Every flow and point of two aggregators agree: counters, deltas, rates, presence, activity.
void expect_same_flows(const podpath::flows::Aggregator& full, const podpath::flows::Aggregator& changed,
                       std::uint64_t step) {
  ASSERT_EQ(full.flows().size(), changed.flows().size()) << "step " << step;
  for (const auto& f : full.flows()) {
    const auto* g = changed.flows().find(f.key);
    ASSERT_NE(g, nullptr) << "step " << step;
    ASSERT_EQ(f.points.size(), g->points.size()) << "step " << step;
    for (std::size_t i = 0; i < f.points.size(); ++i) {
      const auto& p = f.points[i];
      const auto& q = g->points[i];
      EXPECT_EQ(p.packets, q.packets) << "step " << step;
      EXPECT_EQ(p.bytes, q.bytes) << "step " << step;
      EXPECT_EQ(p.delta_packets, q.delta_packets) << "step " << step;
      EXPECT_EQ(p.pps, q.pps) << "step " << step;
      EXPECT_EQ(p.bps, q.bps) << "step " << step;
      EXPECT_EQ(p.present, q.present) << "step " << step;
      EXPECT_EQ(p.last_active_ns, q.last_active_ns) << "step " << step;
    }
  }
}

// One random history of 60 updates, `ports` flows wide, through both aggregators.
// The changed-entries source hands its records over in `batch`es, in its map's order or
// (`shuffle`) in random order, as the change log does.
void expect_changed_reads_match_full_reads(bool shuffle, std::size_t batch, std::uint32_t ports) {
  FakeSource full_src, changed_src;
  changed_src.changed_reads = true;
  changed_src.shuffle = shuffle;
  changed_src.batch = batch;
  Aggregator full(full_src, {.idle_timeout_ns = 5 * kSecond, .full_read_every = 1});
  Aggregator changed(changed_src, {.idle_timeout_ns = 5 * kSecond, .full_read_every = 4});
  std::mt19937 rng(7);
  const ObservationPoint points[] = {kVeth, kUplink, {12, 3, Direction::Ingress}};
  std::size_t partial_updates = 0;
  for (std::uint64_t step = 1; step <= 60; ++step) {
    const std::uint64_t t = step * kSecond;
    for (std::uint32_t i = 0; i < ports / 4; ++i) {  // some flows get packets, some are new
      const auto port = static_cast<std::uint16_t>(1000 + rng() % ports);
      const ObservationPoint& at = points[rng() % 3];
      const std::uint64_t packets = 1 + rng() % 5;
      const FlowKey k = tcp("10.10.129.2", "10.10.130.2", port, 80);
      full_src.count(at, k, packets, t);
      changed_src.count(at, k, packets, t);
    }
    if (step % 7 == 0 && !full_src.entries.empty()) {  // evicted by the kernel, unseen
      const PointKey gone = std::next(full_src.entries.begin(), rng() % full_src.entries.size())->first;
      full_src.entries.erase(gone);
      changed_src.entries.erase(gone);
    }
    auto a = full.update(t);
    auto b = changed.update(t);
    ASSERT_TRUE(a && b);
    EXPECT_TRUE(a->full_read);
    partial_updates += b->full_read ? 0 : 1;
    EXPECT_EQ(a->new_flows, b->new_flows) << "step " << step;
    EXPECT_EQ(a->expired, b->expired) << "step " << step;
    EXPECT_EQ(full.entries(), changed.entries()) << "step " << step;
    expect_same_flows(full, changed, step);
  }
  EXPECT_GT(partial_updates, 30u) << "the changed aggregator should mostly read changed entries";
}

}  // namespace

TEST(Aggregator, ChangedReadsMatchFullReads) { expect_changed_reads_match_full_reads(false, 3, 24); }

// As from the change log: records in random order, so the aggregator looks each one's flow
// up records ahead (new flows, a flow's several points, flows moved by expiry among them).
TEST(Aggregator, ChangedReadsInRandomOrderMatchFullReads) {
  expect_changed_reads_match_full_reads(true, 3, 24);
  expect_changed_reads_match_full_reads(true, 64, 400);
}

// In the map's order, in batches long enough that the aggregator follows the last full
// read's order rather than looking ahead.
TEST(Aggregator, ChangedReadsInTheMapsOrderMatchFullReads) {
  expect_changed_reads_match_full_reads(false, 64, 400);
}

// An entry that leaves the source without the aggregator removing it (LRU eviction) is
// noticed at the next changed-entries read: the source holds fewer entries than expected,
// so that update reads everything and marks the point gone, as a full read would.
TEST(Aggregator, ChangedReadNoticesAnEntryGoneBehindItsBack) {
  FakeSource src;
  src.changed_reads = true;
  Aggregator agg(src);
  const FlowKey k = tcp("10.10.129.2", "10.10.130.2", 43512, 5432);
  src.count(kVeth, k, 10, 1 * kSecond);
  src.count(kUplink, k, 10, 1 * kSecond);
  ASSERT_TRUE(agg.update(1 * kSecond));
  src.count(kVeth, k, 5, 2 * kSecond);
  auto u = agg.update(2 * kSecond);
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->full_read);
  EXPECT_EQ(u->records, 1u) << "only the changed entry is read";
  EXPECT_EQ(agg.flows().at(k).at(kVeth)->delta_packets, 5u);
  EXPECT_EQ(agg.flows().at(k).at(kUplink)->delta_packets, 0u);

  src.entries.erase({kUplink, k});
  u = agg.update(3 * kSecond);
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->full_read) << "2 entries expected, 1 held: read again, whole";
  EXPECT_FALSE(agg.flows().at(k).at(kUplink)->present);
  EXPECT_TRUE(agg.flows().at(k).at(kVeth)->present);
  EXPECT_EQ(agg.entries(), 1u);
  EXPECT_EQ(agg.flows().at(k).packets(), 15u);
}

// Idle flows expire by the time their counters last grew: a changed-entries read, which
// never hands them over, expires them exactly as a full read would.
TEST(Aggregator, ChangedReadsExpireIdleFlows) {
  FakeSource src;
  src.changed_reads = true;
  Aggregator agg(src, {.idle_timeout_ns = 3 * kSecond});
  const FlowKey quiet = tcp("10.10.129.2", "10.10.130.2", 1, 80);
  const FlowKey busy = tcp("10.10.129.2", "10.10.130.2", 2, 80);
  src.count(kVeth, quiet, 1, 1 * kSecond);
  for (std::uint64_t s = 1; s <= 6; ++s) {
    src.count(kVeth, busy, 1, s * kSecond);
    auto u = agg.update(s * kSecond);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->expired, s == 5 ? 1u : 0u) << "second " << s;
  }
  EXPECT_GE(src.changed_read_calls, 4u);
  EXPECT_EQ(agg.flows().find(quiet), nullptr);
  ASSERT_EQ(src.removed.size(), 1u);
  EXPECT_EQ(src.removed.front().key, quiet);
  EXPECT_EQ(agg.flows().at(busy).packets(), 6u);
}

// Idle flows expire in the order of their last activity, however the flows moved in the store
// (expiry and eviction move the last flow into each hole), and a flow active again is not
// expired at its old time.
TEST(Aggregator, ExpiresInTheOrderOfLastActivity) {
  FakeSource src;
  src.changed_reads = true;
  Aggregator agg(src, {.idle_timeout_ns = 3 * kSecond});
  std::vector<FlowKey> keys;
  for (std::uint16_t i = 0; i < 8; ++i) {
    keys.push_back(tcp("10.10.129.2", "10.10.130.2", static_cast<std::uint16_t>(100 + i), 80));
    src.count(kVeth, keys.back(), 1, 1 * kSecond);
  }
  ASSERT_TRUE(agg.update(1 * kSecond));
  // Last active: keys 0..7 at 1 s, then 5 at 2 s, 1 and 3 at 3 s, 0 at 4 s.
  src.count(kVeth, keys[5], 1, 2 * kSecond);
  ASSERT_TRUE(agg.update(2 * kSecond));
  src.count(kUplink, keys[3], 1, 3 * kSecond);
  src.count(kVeth, keys[1], 1, 3 * kSecond);
  ASSERT_TRUE(agg.update(3 * kSecond));
  src.count(kVeth, keys[0], 1, 4 * kSecond);
  ASSERT_TRUE(agg.update(4 * kSecond));
  const auto expired_at = [&](std::uint64_t s) {
    src.removed.clear();
    auto u = agg.update(s * kSecond);
    EXPECT_TRUE(u);
    std::vector<std::uint16_t> ports;
    for (const auto& k : src.removed) ports.push_back(k.key.sport);
    std::sort(ports.begin(), ports.end());
    ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
    EXPECT_EQ(u ? u->expired : 0, ports.size());
    return ports;
  };
  EXPECT_EQ(expired_at(5), (std::vector<std::uint16_t>{102, 104, 106, 107}));
  EXPECT_EQ(expired_at(6), (std::vector<std::uint16_t>{105}));
  src.count(kVeth, keys[1], 1, 7 * kSecond);  // active again before its time
  EXPECT_EQ(expired_at(7), (std::vector<std::uint16_t>{103}));
  EXPECT_EQ(expired_at(8), (std::vector<std::uint16_t>{100}));
  EXPECT_EQ(expired_at(10), (std::vector<std::uint16_t>{}));
  EXPECT_EQ(expired_at(11), (std::vector<std::uint16_t>{101}));
  EXPECT_TRUE(agg.flows().empty());
  EXPECT_EQ(agg.entries(), 0u);
}

namespace {

/// A source of two pools (kernel maps) by the key's source port, each of `capacity_` entries.
class PooledSource final : public FlowSource {
 public:
  FakeSource inner;
  podpath::Result<void> read(const podpath::flows::RecordSink& sink) override { return inner.read(sink); }
  podpath::Result<podpath::flows::ChangedRead> read_changed(const podpath::flows::RecordSink& sink) override {
    return inner.read_changed(sink);
  }
  podpath::Result<void> remove(const std::vector<PointKey>& keys) override { return inner.remove(keys); }
  [[nodiscard]] std::size_t capacity() const override { return inner.capacity(); }
  [[nodiscard]] std::size_t pools() const override { return 2; }
  [[nodiscard]] std::size_t pool(const FlowKey& key) const override { return key.sport % 2; }
  [[nodiscard]] std::size_t held(std::size_t pool) const {
    std::size_t n = 0;
    for (const auto& [k, s] : inner.entries) n += k.key.sport % 2 == pool ? 1 : 0;
    return n;
  }
};

}  // namespace

// The entries per pool are counted as they appear and go, not recounted from every flow: after
// any mix of new entries, unseen evictions, counters reset, idle expiry and eviction under map
// pressure, the count is what the source holds, no pool stays above its high-water mark, and
// every counter agrees with an aggregator that reads (and counts) everything every time.
TEST(Aggregator, CountsEntriesPerPoolAcrossEvictionsExpiryAndResets) {
  PooledSource full_src, changed_src;
  full_src.inner.capacity_ = changed_src.inner.capacity_ = 20;
  changed_src.inner.changed_reads = true;
  Aggregator full(full_src, {.idle_timeout_ns = 6 * kSecond, .full_read_every = 1});
  Aggregator changed(changed_src, {.idle_timeout_ns = 6 * kSecond, .full_read_every = 5});
  std::mt19937 rng(11);
  const ObservationPoint points[] = {kVeth, kUplink};
  std::size_t evicted = 0, expired = 0, resets = 0;
  for (std::uint64_t step = 1; step <= 80; ++step) {
    const std::uint64_t t = step * kSecond;
    for (int i = 0; i < 4; ++i) {
      const auto port = static_cast<std::uint16_t>(2000 + rng() % 40);
      const ObservationPoint& at = points[rng() % 2];
      const FlowKey k = tcp("10.10.129.2", "10.10.130.2", port, 80);
      const std::uint64_t packets = 1 + rng() % 3;
      full_src.inner.count(at, k, packets, t);
      changed_src.inner.count(at, k, packets, t);
    }
    if (step % 5 == 0 && !full_src.inner.entries.empty()) {  // evicted and recreated unseen: a reset
      const auto it = std::next(full_src.inner.entries.begin(), rng() % full_src.inner.entries.size());
      const PointKey k = it->first;
      for (auto* s : {&full_src.inner, &changed_src.inner}) {
        s->entries.erase(k);
        s->count(k.point, k.key, 1, t);
      }
    }
    if (step % 9 == 0 && !full_src.inner.entries.empty()) {  // evicted unseen
      const PointKey gone =
          std::next(full_src.inner.entries.begin(), rng() % full_src.inner.entries.size())->first;
      full_src.inner.entries.erase(gone);
      changed_src.inner.entries.erase(gone);
    }
    auto a = full.update(t);
    auto b = changed.update(t);
    ASSERT_TRUE(a && b);
    evicted += b->evicted;
    expired += b->expired;
    resets += b->resets;
    EXPECT_EQ(a->evicted, b->evicted) << "step " << step;
    EXPECT_EQ(a->expired, b->expired) << "step " << step;
    EXPECT_EQ(changed.entries(), changed_src.inner.entries.size()) << "step " << step;
    EXPECT_EQ(full.entries(), full_src.inner.entries.size()) << "step " << step;
    for (std::size_t pool = 0; pool < 2; ++pool) {
      EXPECT_LE(changed_src.held(pool), 18u) << "step " << step << " pool " << pool;  // 0.9 * 20
    }
    std::size_t present = 0;
    for (const auto& f : changed.flows()) {
      for (const auto& p : f.points) present += p.present ? 1 : 0;
    }
    EXPECT_EQ(present, changed.entries()) << "step " << step;
    expect_same_flows(full, changed, step);
  }
  EXPECT_GT(evicted, 0u) << "the history should put the pools under pressure";
  EXPECT_GT(expired, 0u);
  EXPECT_GT(resets, 0u);
}

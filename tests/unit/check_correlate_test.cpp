// Correlation of probe observations into hops (seen counts, latency, where they stop), of
// drop records into findings, and the drop-reason names read from BTF-style enumerators.
#include <gtest/gtest.h>
#include <netinet/tcp.h>

#include "check/correlate.hpp"
#include "check_fixture.hpp"

using podpath::check::correlate_drops;
using podpath::check::correlate_path;
using podpath::check::DropFilter;
using podpath::check::PathReport;
using podpath::flows::HopState;
using podpath::model::Direction;
using namespace podpath::testing;

namespace {

class CorrelateTest : public CheckFixture {
 protected:
  PathReport request(const std::vector<podpath::model::FlowRecord>& records, int probes = 3) {
    std::vector<podpath::model::FlowKey> keys;
    for (int i = 0; i < probes; ++i) keys.push_back(echo(i));
    return correlate_path(keys, records, web(), db(), topo_);
  }

  std::vector<podpath::check::DropFinding> drops(const std::vector<podpath::bpf::DropEvent>& events,
                                                 bool cluster_only = true) {
    std::vector<podpath::model::FlowKey> req, rep;
    for (int i = 0; i < 3; ++i) {
      req.push_back(echo(i));
      rep.push_back(echo(i).reversed());
    }
    DropFilter f;
    f.cluster_only = cluster_only;
    f.request_destination = "default/db-0";
    f.reply_destination = "default/web-7d4b9-x2k4q";
    return correlate_drops(
        events, req, rep, [](std::uint64_t c) { return place_of(c); },
        [](std::uint64_t a) {
          return a == 0x100   ? std::string("nft_do_chain+0x46f")
                 : a == 0x200 ? "ip_error+0x94"
                              : "raw_rcv+0x228";
        },
        f);
  }
};

std::string layout(const PathReport& p) {
  std::string out;
  for (const auto& h : p.hops) {
    out += (out.empty() ? "" : " ") + h.describe() + "=" +
           (h.hop.state == HopState::Virtual ? std::string("virtual") : std::to_string(h.seen));
  }
  return out;
}

}  // namespace

TEST_F(CorrelateTest, EveryProbeSeenEverywhereWithLatencies) {
  const auto p = request(request_records(3, true));
  EXPECT_EQ(layout(p), "node1 veth3a9c1f02 ingress=3 node1 cbr0 ingress=3 node1 eth0 egress=3 gateway "
                       "br-underlay forward=virtual "
                       "node2 eth0 ingress=3 node2 cbr0 egress=3 node2 vethb61703ca egress=3");
  EXPECT_TRUE(p.complete);
  EXPECT_FALSE(p.stop().has_value());
  ASSERT_TRUE(p.last_seen().has_value());
  EXPECT_EQ(p.hops[*p.last_seen()].describe(), "node2 vethb61703ca egress");
  EXPECT_FALSE(p.hops[0].latency_ns.has_value());  // the first hop has no predecessor
  ASSERT_TRUE(p.hops[1].latency_ns.has_value());
  EXPECT_EQ(*p.hops[1].latency_ns, 10'000u);
  // Across the (unobserved) gateway: from node1 eth0 egress to node2 eth0 ingress.
  ASSERT_TRUE(p.hops[4].latency_ns.has_value());
  EXPECT_EQ(*p.hops[4].latency_ns, 30'000u);
  EXPECT_EQ(p.hops[0].total, 3);
}

TEST_F(CorrelateTest, ProbesThatStopAtTheUplinkLeaveTheRestMissing) {
  const auto p = request(request_records(3, false));
  EXPECT_FALSE(p.complete);
  ASSERT_TRUE(p.stop().has_value());
  EXPECT_EQ(p.hops[*p.stop()].describe(), "node2 eth0 ingress");
  EXPECT_EQ(p.hops[*p.last_seen()].describe(), "node1 eth0 egress");
  EXPECT_EQ(p.hops[*p.stop()].hop.state, HopState::Missing);
  EXPECT_EQ(p.hops[*p.stop()].seen, 0);
}

TEST_F(CorrelateTest, PartialLossCountsProbesPerHop) {
  auto records = request_records(3, true);
  // Probe 1 never reached node2: drop its node2 records.
  const auto lost = echo(1);
  std::erase_if(records, [&](const auto& r) { return r.key == lost && r.point.netns_cookie == kNode2; });
  const auto p = request(records);
  EXPECT_EQ(p.hops[2].seen, 3);  // node1 eth0 egress
  EXPECT_EQ(p.hops[4].seen, 2);  // node2 eth0 ingress
  EXPECT_TRUE(p.complete);
}

TEST_F(CorrelateTest, OtherFlowsAreIgnored) {
  auto records = request_records(3, false);
  // Someone else's flow at node2 must not make the probes look delivered.
  auto other = echo(9);
  records.push_back(record(other, kNode2, kEth0, Direction::Ingress, 5));
  const auto p = request(records);
  EXPECT_EQ(p.hops[*p.last_seen()].describe(), "node1 eth0 egress");
}

TEST_F(CorrelateTest, NothingSeenAtAll) {
  const auto p = request({});
  EXPECT_FALSE(p.any_seen());
  EXPECT_FALSE(p.last_seen().has_value());
  ASSERT_TRUE(p.stop().has_value());
  EXPECT_EQ(p.hops[*p.stop()].describe(), "node1 veth3a9c1f02 ingress");
}

TEST_F(CorrelateTest, ReplyDirectionUsesReversedKeys) {
  std::vector<podpath::model::FlowRecord> records;
  std::vector<podpath::model::FlowKey> keys;
  for (int i = 0; i < 2; ++i) {
    const auto k = echo(i).reversed();
    keys.push_back(k);
    records.push_back(record(k, kNode2, kVeth, Direction::Ingress, 100));
    records.push_back(record(k, kNode2, kCbr0, Direction::Ingress, 200));
  }
  const auto p = correlate_path(keys, records, db(), web(), topo_);
  EXPECT_EQ(p.hops[*p.last_seen()].describe(), "node2 cbr0 ingress");
  EXPECT_EQ(p.hops[*p.stop()].describe(), "node2 eth0 egress");
}

TEST_F(CorrelateTest, DropsAreGroupedByPlaceReasonAndDirection) {
  const auto f = drops({
      drop_event(echo(0), kNode2, "NETFILTER_DROP", 0x100, "eth0", 10),
      drop_event(echo(1), kNode2, "NETFILTER_DROP", 0x100, "eth0", 20),
      drop_event(echo(2), kNode2, "NETFILTER_DROP", 0x100, "eth0", 30),
      drop_event(echo(0).reversed(), kGateway, "IP_INNOROUTES", 0x200, "br-underlay", 5),
  });
  ASSERT_EQ(f.size(), 2u);
  // In order of first occurrence.
  EXPECT_EQ(f[0].place.name, "gateway");
  EXPECT_TRUE(f[0].reply);
  EXPECT_EQ(f[0].function(), "ip_error");
  EXPECT_EQ(f[1].place.name, "node2");
  EXPECT_FALSE(f[1].reply);
  EXPECT_EQ(f[1].count, 3u);
  EXPECT_EQ(f[1].reason, "NETFILTER_DROP");
  EXPECT_EQ(f[1].location, "nft_do_chain+0x46f");
  EXPECT_EQ(f[1].first_ns, 10u);
  EXPECT_EQ(f[1].seqs.size(), 3u);
}

TEST_F(CorrelateTest, BenignAndForeignDropsAreLeftOut) {
  auto other_lab = drop_event(echo(0), 4242, "NETFILTER_DROP", 0x100, "eth0");
  const auto f = drops({
      drop_event(echo(0), kNode2, "SOCKET_FILTER", 0x300, "eth0"),         // a raw socket's filter
      drop_event(echo(0).reversed(), kWebNs, "NO_SOCKET", 0x300, "eth0"),  // echo reply, no ping socket
      drop_event(echo(1), kNode1, "OTHERHOST", 0x300, "eth0"),             // a flooded copy
      other_lab,                                                           // not this cluster
      drop_event(echo(9), kNode2, "NETFILTER_DROP", 0x100, "eth0"),        // not a probe
  });
  EXPECT_TRUE(f.empty());
  // Without cluster filtering (a real node: one set of namespaces) the foreign one counts.
  EXPECT_EQ(drops({other_lab}, false).size(), 1u);
  // OTHERHOST at the destination itself means a wrong MAC there: kept.
  EXPECT_EQ(drops({drop_event(echo(0), kDbNs, "OTHERHOST", 0x300, "eth0")}).size(), 1u);
}

TEST_F(CorrelateTest, LocationOnlyDropsOfIcmpInRawReceiveAreBenign) {
  auto e = drop_event(echo(0).reversed(), kWebNs, nullptr, 0x300, "eth0");  // raw_rcv, no reason
  EXPECT_TRUE(drops({e}).empty());
  auto fw = drop_event(echo(0), kNode2, nullptr, 0x100, "eth0");
  const auto f = drops({fw});
  ASSERT_EQ(f.size(), 1u);
  EXPECT_TRUE(f[0].reason.empty());
  EXPECT_EQ(f[0].function(), "nft_do_chain");
}

TEST_F(CorrelateTest, AClosedTcpSocketsPurgedQueueIsBenignButNotASyn) {
  // A probe's socket closed right after its handshake frees the peer's FIN unread.
  podpath::model::FlowKey k = echo(0).reversed();
  k.proto = IPPROTO_TCP;
  auto e = drop_event(k, kWebNs, "QUEUE_PURGE", 0x300, "eth0");
  e.tcp_flags = TH_FIN | TH_ACK;
  const podpath::check::Place web_ns = place_of(kWebNs);
  EXPECT_TRUE(podpath::check::benign_drop(e, "sk_stream_kill_queues", web_ns, web_ns.name));
  e.tcp_flags = TH_SYN | TH_ACK;
  EXPECT_FALSE(podpath::check::benign_drop(e, "sk_stream_kill_queues", web_ns, web_ns.name));
}

TEST(DropReasonNames, FromBtfEnumerators) {
  const podpath::bpf::DropReasonNames names({{"SKB_NOT_DROPPED_YET", 0},
                                             {"SKB_CONSUMED", 1},
                                             {"SKB_DROP_REASON_NOT_SPECIFIED", 2},
                                             {"SKB_DROP_REASON_NETFILTER_DROP", 12},
                                             {"SKB_DROP_REASON_MAX", 128},
                                             {"SKB_DROP_REASON_SUBSYS_MASK", 0xffff0000}},
                                            {{"SKB_DROP_REASON_SUBSYS_CORE", 0},
                                             {"SKB_DROP_REASON_SUBSYS_OPENVSWITCH", 3},
                                             {"SKB_DROP_REASON_SUBSYS_NUM", 4}});
  EXPECT_EQ(names.name(12), "NETFILTER_DROP");
  EXPECT_EQ(names.name(2), "NOT_SPECIFIED");
  EXPECT_EQ(names.name(1), "CONSUMED");
  EXPECT_EQ(names.name(128), "reason 128");  // _MAX is no reason
  EXPECT_EQ(names.name(3u << 16 | 5), "OPENVSWITCH reason 5");
  EXPECT_EQ(names.name(9u << 16 | 1), "subsystem 9 reason 1");
  EXPECT_EQ(names.value("NETFILTER_DROP"), 12u);
  EXPECT_FALSE(names.value("NO_SUCH_REASON").has_value());
}

// The verdict for each evidence pattern, and the facts the verdicts rest on (the gateway's
// route next to the inventory's, unresolved neighbours).
#include <gtest/gtest.h>

#include "check/correlate.hpp"
#include "check/diagnose.hpp"
#include "check/facts.hpp"
#include "check_fixture.hpp"

using podpath::check::DropFinding;
using podpath::check::Evidence;
using podpath::check::IcmpError;
using podpath::check::LinkFact;
using podpath::check::PlaceKind;
using podpath::check::ProbeOutcome;
using podpath::check::ProbeResult;
using podpath::check::Protocol;
using podpath::check::Verdict;
using podpath::check::VerdictKind;
using podpath::model::Direction;
using namespace podpath::testing;

namespace {

class DiagnoseTest : public CheckFixture {
 protected:
  /// Evidence for 3 ICMP probes web -> db with the given results and request records.
  Evidence evidence(ProbeResult result, const std::vector<podpath::model::FlowRecord>& records,
                    bool reply_seen = false) {
    Evidence ev;
    ev.src = web();
    ev.dst = db();
    std::vector<podpath::model::FlowKey> keys, replies;
    std::vector<podpath::model::FlowRecord> all = records;
    for (int i = 0; i < 3; ++i) {
      ProbeOutcome p;
      p.seq = i + 1;
      p.key = echo(i);
      p.size = 84;
      p.sent_ns = 1000;
      p.result = result;
      if (result == ProbeResult::Answered || result == ProbeResult::Refused) p.answered_ns = 1000 + 200'000;
      ev.probes.push_back(p);
      keys.push_back(p.key);
      replies.push_back(p.key.reversed());
      if (reply_seen) all.push_back(record(p.key.reversed(), kNode2, kVeth, Direction::Ingress, 500));
    }
    ev.outcome = podpath::check::summarize(ev.probes);
    ev.request = podpath::check::correlate_path(keys, all, ev.src, ev.dst, topo_);
    ev.reply = podpath::check::correlate_path(replies, all, ev.dst, ev.src, topo_);
    return ev;
  }

  static DropFinding finding(PlaceKind kind, const char* place, const char* ifname, const char* reason,
                             const char* location, std::uint8_t ttl = 61) {
    DropFinding d;
    d.place = {kind, place, ""};
    d.ifname = ifname;
    d.reason = reason;
    d.location = location;
    d.count = 3;
    d.ip_len = 84;
    d.ttl = ttl;
    return d;
  }

  podpath::check::GatewayRouteFact gateway_fact(std::optional<podpath::net::RouteTable> table) {
    return podpath::check::gateway_route_fact(*cluster_.gateway, table, ip("10.10.130.2"), topo_);
  }

  static podpath::net::RouteTable gw_table(const char* via_for_node2) {
    podpath::net::RouteTable t;
    t.add(route("10.0.0.0/24", nullptr, "br-underlay"));
    t.add(route("10.10.129.0/24", "10.0.0.2", "br-underlay"));
    if (via_for_node2 != nullptr) t.add(route("10.10.130.0/24", via_for_node2, "br-underlay"));
    return t;
  }
};

}  // namespace

TEST_F(DiagnoseTest, AnsweredIsReachable) {
  auto ev = evidence(ProbeResult::Answered, request_records(3, true), true);
  podpath::check::MtuProbe m;
  m.size = 1500;
  m.sent = 2;
  m.answered = 2;
  ev.mtu = m;
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_TRUE(v.reachable);
  EXPECT_EQ(v.kind, VerdictKind::Reachable);
  EXPECT_EQ(v.summary, "reachable: 3/3 answered (ICMP echo, rtt 0.20 ms)");
  ASSERT_FALSE(v.details.empty());
  EXPECT_EQ(v.details[0], "1500-byte packets with DF set pass too (no MTU problem)");
}

TEST_F(DiagnoseTest, LargePacketsLostIsAnMtuBlackhole) {
  auto ev = evidence(ProbeResult::Answered, request_records(3, true), true);
  podpath::check::MtuProbe m;
  m.size = 1500;
  m.sent = 2;
  std::vector<podpath::model::FlowKey> big = {echo(7), echo(8)};
  std::vector<podpath::model::FlowRecord> recs;
  for (const auto& k : big) {
    recs.push_back(record(k, kNode1, kVeth, Direction::Ingress, 1));
    recs.push_back(record(k, kNode1, kCbr0, Direction::Ingress, 2));
    recs.push_back(record(k, kNode1, kEth0, Direction::Egress, 3));
  }
  m.path = podpath::check::correlate_path(big, recs, ev.src, ev.dst, topo_);
  m.drops.push_back(
      finding(PlaceKind::Gateway, "gateway", "veth-node2", "NOT_SPECIFIED", "__dev_forward_skb2+0x87"));
  ev.mtu = m;
  LinkFact eth0;
  eth0.place = {PlaceKind::Node, "node2", ""};
  eth0.ifname = "eth0";
  eth0.mtu = 1000;
  eth0.on_path = true;
  ev.links.push_back(eth0);
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_FALSE(v.reachable);
  EXPECT_EQ(v.kind, VerdictKind::Mtu);
  EXPECT_EQ(
      v.summary,
      "MTU blackhole: 1500-byte packets with DF set are lost (stops after node1 eth0 egress), small ones "
      "pass; node2 eth0 has MTU 1000");
  EXPECT_EQ(v.hop, "node1 eth0 egress");
}

TEST_F(DiagnoseTest, FragNeededMeansPmtuDiscoveryWorks) {
  auto ev = evidence(ProbeResult::Answered, request_records(3, true), true);
  podpath::check::MtuProbe m;
  m.size = 1500;
  m.sent = 2;
  m.icmp = IcmpError{ip("10.0.0.1"), 3, 4, 1400};
  ev.mtu = m;
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_TRUE(v.reachable);
  EXPECT_EQ(v.details[0], "path MTU 1400 (ICMP fragmentation needed from 10.0.0.1): PMTU discovery works");
}

TEST_F(DiagnoseTest, TcpResetFromTheDestinationIsAClosedPort) {
  auto ev = evidence(ProbeResult::Refused, request_records(3, true), true);
  ev.proto = Protocol::Tcp;
  ev.port = 8080;
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_EQ(v.kind, VerdictKind::PortClosed);
  EXPECT_EQ(v.summary, "TCP RST from destination (port closed)");
  EXPECT_FALSE(v.reachable);
}

TEST_F(DiagnoseTest, UdpPortUnreachableIsAClosedPort) {
  auto ev = evidence(ProbeResult::Refused, request_records(3, true));
  ev.proto = Protocol::Udp;
  ev.port = 9000;
  ev.outcome.icmp = IcmpError{ip("10.10.130.2"), 3, 3, 0};
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_EQ(v.summary, "ICMP port unreachable from destination (UDP port 9000 closed)");
  // Sent by a node on the way: a firewall rejecting, not the destination.
  ev.outcome.icmp = IcmpError{ip("10.0.0.3"), 3, 3, 0};
  EXPECT_EQ(podpath::check::diagnose(ev).summary,
            "ICMP port unreachable from 10.0.0.3 for UDP port 9000 (a firewall there rejects it)");
}

TEST_F(DiagnoseTest, GatewayWithoutRouteDroppingThePackets) {
  auto ev = evidence(ProbeResult::IcmpError, request_records(3, false));
  ev.gateway_to_dst = gateway_fact(gw_table(nullptr));
  ev.drops.push_back(finding(PlaceKind::Gateway, "gateway", "br-underlay", "IP_INNOROUTES", "ip_error+0x94"));
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_EQ(v.kind, VerdictKind::NoRoute);
  EXPECT_EQ(v.summary, "stops after node1 eth0 egress: gateway has no route to 10.10.130.0/24");
  EXPECT_EQ(v.hop, "node1 eth0 egress");
}

TEST_F(DiagnoseTest, GatewayWithoutRouteFromStateOrIcmpAlone) {
  auto ev = evidence(ProbeResult::Timeout, request_records(3, false));
  ev.gateway_to_dst = gateway_fact(gw_table(nullptr));
  EXPECT_EQ(podpath::check::diagnose(ev).summary,
            "stops after node1 eth0 egress: gateway has no route to 10.10.130.0/24");
  ev.outcome.icmp = IcmpError{ip("10.0.0.1"), 3, 0, 0};
  EXPECT_EQ(podpath::check::diagnose(ev).summary,
            "stops after node1 eth0 egress: gateway has no route to 10.10.130.0/24");
}

TEST_F(DiagnoseTest, FirewallDrop) {
  auto records = request_records(3, false);
  for (int i = 0; i < 3; ++i) records.push_back(record(echo(i), kNode2, kEth0, Direction::Ingress, 9));
  auto ev = evidence(ProbeResult::Timeout, records);
  ev.drops.push_back(finding(PlaceKind::Node, "node2", "eth0", "NETFILTER_DROP", "nf_hook_slow+0x5c"));
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_EQ(v.kind, VerdictKind::Firewall);
  EXPECT_EQ(v.summary, "dropped at node2: NETFILTER_DROP in nf_hook_slow");
  EXPECT_EQ(v.hop, "node2 eth0 ingress");
  EXPECT_EQ(v.details[0], "3× NETFILTER_DROP at node2 eth0 (nf_hook_slow+0x5c, request; 84 bytes)");
}

TEST_F(DiagnoseTest, LocationOnlyKernelsAreLabelled) {
  auto ev = evidence(ProbeResult::Timeout, request_records(3, false));
  ev.drop_reasons = false;
  ev.drops.push_back(finding(PlaceKind::Node, "node2", "eth0", "", "nf_hook_slow+0x5c"));
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_EQ(v.kind, VerdictKind::Firewall);
  EXPECT_EQ(v.summary, "dropped at node2: freed in nf_hook_slow");
  EXPECT_EQ(
      v.details.back(),
      "this kernel reports no drop reasons (Linux 5.17+ does): drops are named by the kernel function that "
      "freed them");
}

TEST_F(DiagnoseTest, NoArpReply) {
  auto records = request_records(3, false);
  for (int i = 0; i < 3; ++i) records.push_back(record(echo(i), kNode2, kEth0, Direction::Ingress, 9));
  auto ev = evidence(ProbeResult::Timeout, records);
  ev.neighbours.push_back({{PlaceKind::Node, "node2", ""}, "cbr0", ip("10.10.130.2"), "incomplete"});
  Verdict v = podpath::check::diagnose(ev);
  EXPECT_EQ(v.kind, VerdictKind::Neighbour);
  EXPECT_EQ(v.summary, "no ARP reply for 10.10.130.2 on node2 cbr0");
  EXPECT_EQ(v.hop, "node2 cbr0 egress");
  // The same with the kernel's drop record (NEIGH_FAILED once the kernel gave up).
  ev.drops.push_back(finding(PlaceKind::Node, "node2", "cbr0", "NEIGH_FAILED", "neigh_invalidate+0x7e"));
  v = podpath::check::diagnose(ev);
  EXPECT_EQ(v.summary, "no ARP reply for 10.10.130.2 on node2 cbr0");
}

TEST_F(DiagnoseTest, PodVethDown) {
  auto ev = evidence(ProbeResult::Timeout, request_records(3, false));
  LinkFact veth;
  veth.place = {PlaceKind::Node, "node2", ""};
  veth.ifname = "vethb61703ca";
  veth.role = podpath::model::InterfaceRole::PodVeth;
  veth.pod = "default/db-0";
  veth.up = false;
  veth.running = false;
  veth.on_path = true;
  LinkFact peer;
  peer.place = {PlaceKind::Pod, "default/db-0", "node2"};
  peer.ifname = "eth0";
  peer.up = true;
  peer.running = false;
  peer.on_path = true;
  ev.links = {peer, veth};
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_EQ(v.kind, VerdictKind::LinkDown);
  EXPECT_EQ(v.summary, "pod veth down: vethb61703ca of pod default/db-0 on node2 is down");
}

TEST_F(DiagnoseTest, WrongGatewayRouteIsARoutingLoop) {
  auto ev = evidence(ProbeResult::IcmpError, request_records(3, false));
  ev.outcome.icmp = IcmpError{ip("10.0.0.1"), 11, 0, 0};
  ev.gateway_to_dst = gateway_fact(gw_table("10.0.0.2"));
  ev.drops.push_back(
      finding(PlaceKind::Gateway, "gateway", "br-underlay", "IP_INHDR", "ip_forward+0x2c0", 1));
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_EQ(v.kind, VerdictKind::RoutingLoop);
  EXPECT_EQ(
      v.summary,
      "routing loop: the gateway routes 10.10.130.0/24 via 10.0.0.2 (node1), but node2 holds that pod CIDR "
      "(expected 10.10.130.0/24 via 10.0.0.3); packets bounce until their TTL runs out");
  // TTL exceeded alone (no drop record, gateway routes unknown).
  auto ev2 = evidence(ProbeResult::IcmpError, request_records(3, false));
  ev2.outcome.icmp = IcmpError{ip("10.0.0.2"), 11, 0, 0};
  EXPECT_EQ(podpath::check::diagnose(ev2).kind, VerdictKind::RoutingLoop);
}

TEST_F(DiagnoseTest, OtherDropsNameReasonAndFunction) {
  auto ev = evidence(ProbeResult::Timeout, request_records(3, false));
  ev.drops.push_back(
      finding(PlaceKind::Gateway, "gateway", "veth-node2", "QDISC_DROP", "__dev_queue_xmit+0x3"));
  EXPECT_EQ(podpath::check::diagnose(ev).summary, "dropped at the gateway: QDISC_DROP in __dev_queue_xmit");
}

TEST_F(DiagnoseTest, SourceCannotSend) {
  auto ev = evidence(ProbeResult::LocalError, {});
  for (auto& p : ev.probes) p.error = ENETUNREACH;
  ev.outcome = podpath::check::summarize(ev.probes);
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_EQ(v.kind, VerdictKind::LocalError);
  EXPECT_EQ(v.summary, "pod default/web-7d4b9-x2k4q cannot send to 10.10.130.2: Network is unreachable");
}

TEST_F(DiagnoseTest, StopWithoutExplanation) {
  auto ev = evidence(ProbeResult::Timeout, request_records(3, false));
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_EQ(v.kind, VerdictKind::Lost);
  EXPECT_EQ(
      v.summary,
      "stops after node1 eth0 egress: never reached node2 eth0 ingress (no drop reported by the kernel)");
  EXPECT_EQ(podpath::check::diagnose(evidence(ProbeResult::Timeout, {})).summary,
            "no probe was seen leaving pod default/web-7d4b9-x2k4q");
}

TEST_F(DiagnoseTest, DeliveredUdpWithoutReplyIsReachable) {
  auto ev = evidence(ProbeResult::Timeout, request_records(3, true));
  ev.proto = Protocol::Udp;
  ev.port = 5000;
  const Verdict v = podpath::check::diagnose(ev);
  EXPECT_TRUE(v.reachable);
  EXPECT_EQ(v.kind, VerdictKind::Delivered);
  // ICMP delivered without an answer is not.
  auto icmp = evidence(ProbeResult::Timeout, request_records(3, true));
  EXPECT_EQ(podpath::check::diagnose(icmp).summary, "delivered to pod default/db-0, but it did not answer");
}

TEST_F(DiagnoseTest, GatewayRouteFacts) {
  const auto ok = gateway_fact(gw_table("10.0.0.3"));
  EXPECT_TRUE(ok.read);
  EXPECT_FALSE(ok.missing());
  EXPECT_FALSE(ok.wrong());
  EXPECT_EQ(ok.expected_node, "node2");
  EXPECT_EQ(*ok.actual, "10.10.130.0/24 via 10.0.0.3");
  const auto missing = gateway_fact(gw_table(nullptr));
  EXPECT_TRUE(missing.missing());
  EXPECT_EQ(missing.cidr->to_string(), "10.10.130.0/24");
  const auto wrong = gateway_fact(gw_table("10.0.0.2"));
  EXPECT_TRUE(wrong.wrong());
  EXPECT_EQ(wrong.actual_node, "node1");
  const auto unread = gateway_fact(std::nullopt);
  EXPECT_FALSE(unread.missing());
  EXPECT_FALSE(unread.wrong());
}

TEST_F(DiagnoseTest, OnlyUnresolvedNeighboursOfInterestAreFacts) {
  podpath::net::NeighbourTables t;
  podpath::net::Neighbour ok{ip("10.10.130.3"), "aa:bb:cc:dd:ee:ff", 4, "cbr0", 0x02, "reachable"};
  podpath::net::Neighbour bad{ip("10.10.130.2"), "", 4, "cbr0", 0x01, "incomplete"};
  podpath::net::Neighbour failed_other{ip("10.10.130.9"), "", 4, "cbr0", 0x20, "failed"};
  t.neighbours = {ok, bad, failed_other};
  const auto f = podpath::check::unresolved_neighbours({PlaceKind::Node, "node2", ""}, t,
                                                       {ip("10.10.130.2"), ip("10.10.130.3")});
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].ip, ip("10.10.130.2"));
  EXPECT_EQ(f[0].state, "incomplete");
  EXPECT_EQ(f[0].dev, "cbr0");
}

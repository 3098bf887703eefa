// How passive mode judges watched traffic: which flows it selects, which conversations are
// problems (unanswered SYNs and echoes, drops), and the outcome it reports for them.
#include <gtest/gtest.h>
#include <linux/icmp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <initializer_list>

#include "check/passive.hpp"

using podpath::check::FlowSelection;
using podpath::flows::Flow;
using podpath::flows::PointStats;
using podpath::model::FlowKey;
using podpath::model::IpAddress;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

FlowKey tcp(const char* src, const char* dst, std::uint16_t sport, std::uint16_t dport) {
  FlowKey k;
  k.src = ip(src);
  k.dst = ip(dst);
  k.proto = IPPROTO_TCP;
  k.sport = sport;
  k.dport = dport;
  return k;
}

FlowKey echo_request(const char* src, const char* dst) {
  FlowKey k;
  k.src = ip(src);
  k.dst = ip(dst);
  k.proto = IPPROTO_ICMP;
  k.sport = 7;
  k.dport = ICMP_ECHO << 8;
  return k;
}

/// A flow seen at one point per entry of `flags`, each with `packets` packets and those flags.
Flow flow(const FlowKey& key, std::initializer_list<std::uint32_t> flags, std::uint64_t packets = 3) {
  Flow f;
  f.key = key;
  std::uint32_t ifindex = 1;
  for (const auto fl : flags) {
    PointStats p;
    p.point.ifindex = ifindex++;
    p.packets = packets;
    p.stats.packets = packets;
    p.stats.tcp_flags = fl;
    f.points.push_back(p);
  }
  return f;
}

const FlowKey kSyn = tcp("10.10.129.2", "10.10.130.2", 40000, 5432);

}  // namespace

TEST(Passive, TcpFlagsAreTheOrOverEveryPoint) {
  EXPECT_EQ(flow(kSyn, {TH_SYN, TH_ACK, TH_SYN | TH_PUSH}).tcp_flags(),
            static_cast<std::uint32_t>(TH_SYN | TH_ACK | TH_PUSH));
  EXPECT_EQ(flow(kSyn, {}).tcp_flags(), 0u);
}

TEST(Passive, SynWithoutSynAckIsUnanswered) {
  const Flow syn = flow(kSyn, {TH_SYN, TH_SYN});
  EXPECT_TRUE(podpath::check::unanswered_syn(syn, nullptr));
  const Flow rst = flow(kSyn.reversed(), {TH_RST | TH_ACK});
  EXPECT_TRUE(podpath::check::unanswered_syn(syn, &rst)) << "a reply without SYN is no SYN-ACK";
  const Flow syn_ack = flow(kSyn.reversed(), {TH_SYN | TH_ACK});
  EXPECT_FALSE(podpath::check::unanswered_syn(syn, &syn_ack));
}

TEST(Passive, AConnectionSeenMidStreamIsNoOpening) {
  // SYN and ACK from the initiator: the handshake finished while podpath watched.
  EXPECT_FALSE(podpath::check::unanswered_syn(flow(kSyn, {TH_SYN, TH_ACK}), nullptr));
  EXPECT_FALSE(podpath::check::unanswered_syn(flow(kSyn, {TH_ACK | TH_PUSH}), nullptr));
  FlowKey udp = kSyn;
  udp.proto = IPPROTO_UDP;
  EXPECT_FALSE(podpath::check::unanswered_syn(flow(udp, {TH_SYN}), nullptr)) << "flags mean nothing off TCP";
}

TEST(Passive, EchoRequestsWithoutAnyReplyAreUnanswered) {
  const FlowKey req = echo_request("10.10.129.2", "10.10.130.2");
  EXPECT_TRUE(podpath::check::unanswered_echo(flow(req, {0}, 2), nullptr));
  EXPECT_FALSE(podpath::check::unanswered_echo(flow(req, {0}, 1), nullptr)) << "one may still be in flight";
  const Flow reply = flow(req.reversed(), {0}, 2);
  EXPECT_FALSE(podpath::check::unanswered_echo(flow(req, {0}, 2), &reply));
  FlowKey other = req;
  other.dport = ICMP_DEST_UNREACH << 8;
  EXPECT_FALSE(podpath::check::unanswered_echo(flow(other, {0}, 5), nullptr)) << "only echo requests";
}

TEST(Passive, ProblemsAreDropsOrUnansweredOpenings) {
  const Flow syn = flow(kSyn, {TH_SYN});
  const Flow syn_ack = flow(kSyn.reversed(), {TH_SYN | TH_ACK});
  EXPECT_TRUE(podpath::check::has_problem(syn, nullptr, {}));
  EXPECT_FALSE(podpath::check::has_problem(syn, &syn_ack, {}));
  EXPECT_TRUE(podpath::check::has_problem(syn, &syn_ack, {kSyn.reversed()})) << "the reply was dropped";
  EXPECT_TRUE(podpath::check::has_problem(syn, &syn_ack, {kSyn}));
  const Flow data = flow(kSyn, {TH_ACK});
  EXPECT_FALSE(podpath::check::has_problem(data, nullptr, {}));
}

TEST(Passive, OutcomeIsRefusedAnsweredOrTimedOut) {
  const Flow syn = flow(kSyn, {TH_SYN}, 3);
  const Flow rst = flow(kSyn.reversed(), {TH_RST | TH_ACK});
  auto o = podpath::check::observed_outcome(kSyn, &syn, &rst);
  EXPECT_EQ(o.sent, 3);
  EXPECT_EQ(o.refused, 1);
  EXPECT_EQ(o.answered, 0);

  const Flow syn_ack = flow(kSyn.reversed(), {TH_SYN | TH_ACK | TH_RST});
  o = podpath::check::observed_outcome(kSyn, &syn, &syn_ack);
  EXPECT_EQ(o.refused, 0) << "a reply that carried SYN was an answer";
  EXPECT_EQ(o.answered, 1);

  o = podpath::check::observed_outcome(kSyn, &syn, nullptr);
  EXPECT_EQ(o.timeouts, 3);
  EXPECT_EQ(o.answered + o.refused, 0);

  o = podpath::check::observed_outcome(kSyn, nullptr, nullptr);
  EXPECT_EQ(o.sent, 1) << "dropped before its first hop: one packet";
  EXPECT_EQ(o.timeouts, 1);
}

TEST(Passive, SelectionByEndsOrByPods) {
  podpath::model::Cluster cluster;
  podpath::model::Pod web;
  web.ns = "default";
  web.name = "web";
  web.ip = ip("10.10.129.2");
  cluster.pods.push_back(web);

  const FlowSelection any;
  EXPECT_TRUE(any.selects(kSyn, cluster));
  EXPECT_TRUE(any.selects(kSyn.reversed(), cluster));
  EXPECT_FALSE(any.selects(tcp("10.0.0.2", "10.0.0.3", 1, 2), cluster)) << "no pod at either end";

  FlowSelection one;
  one.a = ip("10.10.130.2");
  EXPECT_TRUE(one.selects(kSyn, cluster));
  EXPECT_FALSE(one.selects(tcp("10.10.129.2", "10.10.130.9", 1, 2), cluster));

  FlowSelection both = one;
  both.b = ip("10.10.129.2");
  EXPECT_TRUE(both.selects(kSyn.reversed(), cluster));
  EXPECT_FALSE(both.selects(tcp("10.10.130.2", "10.10.129.3", 1, 2), cluster));
}

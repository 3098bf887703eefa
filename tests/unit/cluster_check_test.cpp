// `check --cluster` (cluster/check.hpp): a /v1/check answer's probes, agents' drop records as
// the drop events lab-mode check correlates, and a node whose agent does not answer: its hops
// unknown and the verdict "unknown", never "lost".
#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <string>

#include "check/correlate.hpp"
#include "check/diagnose.hpp"
#include "check_fixture.hpp"
#include "cluster/check.hpp"

using nlohmann::json;
using podpath::check::PlaceKind;
using podpath::check::ProbeResult;
using podpath::check::VerdictKind;
using namespace podpath::testing;

namespace {

class ClusterCheckTest : public CheckFixture {};

json probe(int seq, int id, const char* result, const json& rtt = nullptr) {
  return {{"seq", seq},
          {"flow", "1/10.10.129.2/" + std::to_string(id) + "/10.10.130.2/2048"},
          {"result", result},
          {"size", 84},
          {"sent_monotonic_ns", 1000},
          {"rtt_ns", rtt},
          {"icmp", nullptr},
          {"error", nullptr}};
}

TEST_F(ClusterCheckTest, ProbesOfAnAnswerAreTheProbersOutcomes) {
  json answer = {{"probes", json::array({probe(1, 4660, "answered", 200'000), probe(2, 4661, "timeout")})}};
  answer["probes"].push_back(probe(3, 4662, "icmp_error"));
  answer["probes"][2]["icmp"] = {{"from", "10.0.0.1"}, {"type", 3}, {"code", 0}, {"info", 0}, {"what", "x"}};
  answer["probes"].push_back(probe(4, 4663, "local_error"));
  answer["probes"][3]["error"] = "Network is unreachable";
  auto probes = podpath::cluster::probes_from_answer(answer);
  ASSERT_TRUE(probes) << probes.error().to_string();
  ASSERT_EQ(probes->size(), 4U);
  EXPECT_EQ((*probes)[0].key, echo(0));
  EXPECT_EQ((*probes)[0].result, ProbeResult::Answered);
  EXPECT_EQ((*probes)[0].rtt_ns(), 200'000U);
  EXPECT_EQ((*probes)[1].result, ProbeResult::Timeout);
  EXPECT_FALSE((*probes)[1].rtt_ns());
  ASSERT_TRUE((*probes)[2].icmp);
  EXPECT_TRUE((*probes)[2].icmp->no_route());
  EXPECT_EQ((*probes)[2].icmp->from, ip("10.0.0.1"));
  EXPECT_EQ((*probes)[3].error, ENETUNREACH);
  const auto s = podpath::check::summarize(*probes);
  EXPECT_EQ(s.sent, 4);
  EXPECT_EQ(s.answered, 1);

  json bad = {{"probes", json::array({probe(1, 4660, "answered")})}};
  bad["probes"][0]["flow"] = "1/10.10.129.2/x/10.10.130.2/2048";
  auto e = podpath::cluster::probes_from_answer(bad);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("does not parse"), std::string::npos);
}

json drop(const char* place_kind, const char* place, const char* ifname, int id, std::uint64_t ts) {
  return {{"monotonic_ns", ts},
          {"reason", "NETFILTER_DROP"},
          {"location", "nft_do_chain+0x46f"},
          {"place", {{"kind", place_kind}, {"name", place}}},
          {"hop", {{"node", "node2"}, {"interface", ifname}, {"ifindex", 2}, {"role", "uplink"}}},
          {"flow",
           {{"src", {{"ip", "10.10.129.2"}}},
            {"dst", {{"ip", "10.10.130.2"}}},
            {"proto", "ICMP"},
            {"proto_number", 1},
            {"sport", id},
            {"dport", 2048}}},
          {"ip_len", 84},
          {"ttl", 63},
          {"df", true},
          {"tcp_flags", 0}};
}

TEST_F(ClusterCheckTest, AgentsDropsBecomeLabModeFindings) {
  podpath::cluster::AgentDrops drops;
  json node2 = json::array();
  for (int i = 0; i < 3; ++i) node2.push_back(drop("node", "node2", "eth0", 4660 + i, 100 + i));
  node2.push_back(drop("node", "node2", "eth0", 9999, 50));  // another flow's
  podpath::cluster::add_agent_drops(drops, node2, cluster_);
  // The same drop reported by another agent (of one kernel: its own time stamp) counts once;
  // one after the prober's refresh (lab-mode check's window) does not count.
  podpath::cluster::add_agent_drops(drops,
                                    json::array({drop("node", "node2", "eth0", 4660, 100 + 400'000),
                                                 drop("node", "node2", "eth0", 4661, 900'000'000)}),
                                    cluster_, {800'000'000, 0, 0});
  ASSERT_EQ(drops.events.size(), 4U);
  EXPECT_EQ(drops.events.front().ts_ns, 50U);  // in time order
  std::vector<podpath::model::FlowKey> req, rep;
  for (int i = 0; i < 3; ++i) {
    req.push_back(echo(i));
    rep.push_back(echo(i).reversed());
  }
  podpath::check::DropFilter filter;
  filter.request_destination = "default/db-0";
  filter.reply_destination = "default/web-7d4b9-x2k4q";
  const auto findings = podpath::check::correlate_drops(
      drops.events, req, rep, [&](std::uint64_t c) { return drops.places.at(c); },
      [&](std::uint64_t a) { return drops.locations.at(a); }, filter);
  ASSERT_EQ(findings.size(), 1U);
  EXPECT_EQ(findings[0].place.kind, PlaceKind::Node);
  EXPECT_EQ(findings[0].place.name, "node2");
  EXPECT_EQ(findings[0].ifname, "eth0");
  EXPECT_EQ(findings[0].reason, "NETFILTER_DROP");
  EXPECT_EQ(findings[0].function(), "nft_do_chain");
  EXPECT_EQ(findings[0].count, 3U);
  EXPECT_TRUE(findings[0].df);
}

TEST_F(ClusterCheckTest, AnUnreachableAgentOnThePathIsUnknownNeverLost) {
  podpath::check::Evidence ev;
  ev.src = web();
  ev.dst = db();
  std::vector<podpath::model::FlowKey> keys;
  for (int i = 0; i < 3; ++i) {
    podpath::check::ProbeOutcome p;
    p.seq = i + 1;
    p.key = echo(i);
    p.result = ProbeResult::Timeout;
    ev.probes.push_back(p);
    keys.push_back(p.key);
  }
  ev.outcome = podpath::check::summarize(ev.probes);
  ev.request = podpath::check::correlate_path(keys, request_records(3, false), ev.src, ev.dst, topo_);
  // Without the marking: "lost" at node2 eth0 ingress, a guess.
  EXPECT_EQ(podpath::check::diagnose(ev).kind, VerdictKind::Lost);

  const std::map<std::string, std::string> unknown = {{"node2", "agent on node2 unreachable since 03:10:11"}};
  podpath::cluster::mark_unknown(ev.request, unknown);
  for (const auto& h : ev.request.hops) {
    if (h.hop.node == "node2") {
      EXPECT_EQ(h.hop.state, podpath::flows::HopState::Unknown) << h.describe();
      EXPECT_EQ(h.hop.note, "unknown: agent on node2 unreachable since 03:10:11");
    }
    EXPECT_NE(h.hop.state, podpath::flows::HopState::Missing) << h.describe();
  }
  EXPECT_TRUE(ev.request.complete);
  const auto v = podpath::check::diagnose(ev);
  EXPECT_EQ(v.kind, VerdictKind::Unknown);
  EXPECT_FALSE(v.reachable);
  EXPECT_EQ(v.summary, "unknown: agent on node2 unreachable since 03:10:11; seen up to node1 eth0 egress");
  EXPECT_EQ(v.hop, "node1 eth0 egress");

  // A drop a reachable agent reported still explains it.
  podpath::check::DropFinding d;
  d.place = {PlaceKind::Node, "node1", ""};
  d.ifname = "eth0";
  d.reason = "NETFILTER_DROP";
  d.location = "nft_do_chain+0x1";
  d.count = 3;
  ev.drops.push_back(d);
  EXPECT_EQ(podpath::check::diagnose(ev).kind, VerdictKind::Firewall);
}

}  // namespace

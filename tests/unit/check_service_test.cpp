// `podpath check POD SERVICE` (issue 16): the Service argument and what it may be refused
// for, the path of connections joined across kube-proxy's DNAT, and the Service verdict
// from the backends' verdicts.
#include <gtest/gtest.h>
#include <linux/icmp.h>
#include <netinet/in.h>

#include "check/correlate.hpp"
#include "check/service_target.hpp"
#include "check/service_verdict.hpp"
#include "check_fixture.hpp"

using podpath::check::BackendReport;
using podpath::check::correlate_path;
using podpath::check::parse_service_arg;
using podpath::check::Protocol;
using podpath::check::resolve_service;
using podpath::check::ServiceEvidence;
using podpath::check::ServiceVerdictKind;
using podpath::check::VerdictKind;
using podpath::model::Direction;
using podpath::model::FlowKey;
using namespace podpath::testing;
namespace model = podpath::model;
namespace check = podpath::check;

namespace {

class ServiceCheckTest : public CheckFixture {
 protected:
  void SetUp() override {
    CheckFixture::SetUp();
    model::Service s;
    s.ns = "default";
    s.name = "web";
    s.cluster_ip = ip("10.96.0.10");
    s.proto = IPPROTO_TCP;
    s.port = 80;
    s.target_port = 8080;
    s.backends = {{"default/web-7d4b9-x2k4q", ip("10.10.129.2"), "node1", "KUBE-SEP-AAA"},
                  {"default/db-0", ip("10.10.130.2"), "node2", "KUBE-SEP-BBB"}};
    cluster_.services.push_back(s);
    cluster_.service_cidr = *model::Cidr::parse("10.96.0.0/12");
  }

  std::string refusal(const char* dst, std::uint16_t port = 0, std::optional<Protocol> proto = std::nullopt) {
    const auto r = resolve_service(cluster_, dst, port, proto);
    return r ? std::string() : r.error().message;
  }
  bool is_service(const char* dst, std::uint16_t port = 0) {
    const auto r = resolve_service(cluster_, dst, port, std::nullopt);
    return r && r->has_value();
  }

  /// A TCP connection from `client` to the ClusterIP, and its translation to `backend`:8080.
  static model::NatRecord nat(std::uint16_t sport, const char* backend) {
    model::NatRecord n;
    n.original.src = ip("10.10.129.2");
    n.original.dst = ip("10.96.0.10");
    n.original.proto = IPPROTO_TCP;
    n.original.sport = sport;
    n.original.dport = 80;
    n.reply.src = ip(backend);
    n.reply.dst = ip("10.10.129.2");
    n.reply.proto = IPPROTO_TCP;
    n.reply.sport = 8080;
    n.reply.dport = sport;
    n.dnat = true;
    n.point = {kNode1, kEth0, Direction::Egress};
    return n;
  }
};

}  // namespace

TEST(ServiceArg, NamesAddressesAndPortsAreParsed) {
  auto a = parse_service_arg("default/web");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "default/web");
  EXPECT_FALSE(a->ip);
  a = parse_service_arg("10.96.0.10:80");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->ip->to_string(), "10.96.0.10");
  EXPECT_EQ(a->port, 80);
  a = parse_service_arg("10.96.0.10");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, 0);
  EXPECT_TRUE(parse_service_arg("fd00::10"));
  for (const char* bad : {"10.96.0.10:0", "10.96.0.10:65536", "10.96.0.10:http", "10.96.0.10:"}) {
    const auto r = parse_service_arg(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("the port after the ClusterIP must be 1-65535"), std::string::npos)
        << bad;
  }
}

TEST_F(ServiceCheckTest, AServiceIsNamedOrGivenByClusterIpAndPort) {
  for (const char* dst : {"web", "default/web", "10.96.0.10:80"}) {
    const auto r = resolve_service(cluster_, dst, 0, std::nullopt);
    ASSERT_TRUE(r) << dst << ": " << r.error().message;
    ASSERT_TRUE(r->has_value()) << dst;
    EXPECT_EQ((*r)->service.full_name(), "default/web");
    EXPECT_EQ((*r)->proto, Protocol::Tcp);
  }
  EXPECT_TRUE(is_service("10.96.0.10", 80));  // --port
  EXPECT_TRUE(is_service("web", 80));
  const auto r = resolve_service(cluster_, "web", 0, Protocol::Tcp);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->has_value());
}

TEST_F(ServiceCheckTest, PodsNodesAndOtherAddressesAreNoService) {
  for (const char* dst : {"db-0", "default/db-0", "node2", "10.10.130.2", "8.8.8.8"}) {
    const auto r = resolve_service(cluster_, dst, 0, std::nullopt);
    ASSERT_TRUE(r) << dst << ": " << r.error().message;
    EXPECT_FALSE(r->has_value()) << dst;
  }
}

TEST_F(ServiceCheckTest, BadServiceInputIsRefusedInOneSentence) {
  EXPECT_NE(refusal("nosuch").find("no pod, node or Service named 'nosuch' (pods: "), std::string::npos);
  EXPECT_NE(refusal("nosuch").find("services: default/web 10.96.0.10:80/TCP)"), std::string::npos);
  EXPECT_EQ(refusal("10.96.0.10"),
            "10.96.0.10 is the ClusterIP of service default/web: give its port, e.g. '10.96.0.10:80'");
  EXPECT_EQ(refusal("10.96.0.10:81"), "service default/web (10.96.0.10) has no port 81 (its port: 80/TCP)");
  EXPECT_EQ(refusal("web", 81), "service default/web has no port 81 (its port: 80/TCP)");
  EXPECT_EQ(refusal("10.96.0.10:80", 81), "10.96.0.10:80 names port 80, --port says 81: give one");
  EXPECT_NE(
      refusal("10.96.0.99").find("10.96.0.99 is in the service CIDR 10.96.0.0/12, but no Service has it"),
      std::string::npos);
  EXPECT_NE(refusal("10.10.130.2:8080").find("10.10.130.2 is no Service's ClusterIP"), std::string::npos);
  EXPECT_EQ(refusal("web", 0, Protocol::Udp), "service default/web's port 80 is TCP, not udp");
  EXPECT_NE(refusal("web", 0, Protocol::Icmp).find("service default/web cannot be pinged"),
            std::string::npos);
}

TEST_F(ServiceCheckTest, TheDnatHopAndBothSidesOfTheTranslationMakeOnePath) {
  // Two connections to db-0 behind the ClusterIP: the client's veth sees them before the
  // DNAT, everything after it sees the backend's address.
  std::vector<FlowKey> keys;
  check::NatJoin join;
  std::vector<model::FlowRecord> records;
  for (int i = 0; i < 2; ++i) {
    const auto n = nat(static_cast<std::uint16_t>(40000 + i), "10.10.130.2");
    if (i == 0) join.nat = n;
    keys.push_back(n.original);
    join.translated.push_back(n.translated());
    const std::uint64_t t = 1'000'000ULL * static_cast<std::uint64_t>(i + 1);
    records.push_back(record(n.original, kNode1, kVeth, Direction::Ingress, t));
    records.push_back(record(n.translated(), kNode1, kCbr0, Direction::Ingress, t + 10'000));
    records.push_back(record(n.translated(), kNode1, kEth0, Direction::Egress, t + 20'000));
    records.push_back(record(n.translated(), kNode2, kEth0, Direction::Ingress, t + 50'000));
    records.push_back(record(n.translated(), kNode2, kCbr0, Direction::Egress, t + 60'000));
    records.push_back(record(n.translated(), kNode2, kVeth, Direction::Egress, t + 70'000));
  }
  join.why = {"default/web", "KUBE-SEP-BBB"};
  const auto p = correlate_path(keys, records, web(), db(), topo_, &join);
  ASSERT_FALSE(p.hops.empty());
  std::string nat_at;
  for (const auto& h : p.hops) {
    if (h.hop.state == podpath::flows::HopState::Virtual) continue;
    EXPECT_EQ(h.seen, 2) << h.describe();
    if (!h.hop.nat.empty()) nat_at = h.describe() + ": " + h.hop.nat;
  }
  EXPECT_EQ(nat_at,
            "node1 veth3a9c1f02 ingress: DNAT 10.96.0.10:80 → 10.10.130.2:8080 (service default/web, rule "
            "KUBE-SEP-BBB)");
  EXPECT_TRUE(p.complete);
  // Without the join, the backend's side is not the probes'.
  const auto alone = correlate_path(keys, records, web(), db(), topo_);
  EXPECT_FALSE(alone.complete);
}

namespace {

check::Evidence outcome(std::initializer_list<check::ProbeResult> results) {
  check::Evidence ev;
  ev.proto = Protocol::Tcp;
  ev.port = 8080;
  int seq = 0;
  for (const auto r : results) {
    check::ProbeOutcome p;
    p.seq = ++seq;
    p.result = r;
    ev.probes.push_back(p);
  }
  ev.outcome = check::summarize(ev.probes);
  return ev;
}

BackendReport backend(const model::ServiceBackend& b, check::Evidence ev, VerdictKind kind,
                      const char* summary, const char* hop = "") {
  BackendReport r;
  r.backend = b;
  r.port = 8080;
  r.evidence = std::move(ev);
  r.verdict.kind = kind;
  r.verdict.reachable = kind == VerdictKind::Reachable;
  r.verdict.summary = summary;
  r.verdict.hop = hop;
  return r;
}

}  // namespace

TEST_F(ServiceCheckTest, EveryBackendAnsweringIsReachable) {
  using R = check::ProbeResult;
  ServiceEvidence ev;
  ev.service = cluster_.services[0];
  const auto& b = ev.service.backends;
  ev.backends.push_back(
      backend(b[0], outcome({R::Answered, R::Answered}), VerdictKind::Reachable, "reachable"));
  ev.backends.push_back(backend(b[1], outcome({R::Answered}), VerdictKind::Reachable, "reachable"));
  const auto v = check::judge_service(ev);
  EXPECT_TRUE(v.reachable);
  EXPECT_EQ(v.kind, ServiceVerdictKind::Reachable);
  EXPECT_EQ(v.summary, "reachable: service default/web answered 3/3 tcp connections through 2 backends: pod "
                       "default/web-7d4b9-x2k4q (node1) 2, pod default/db-0 (node2) 1");
}

TEST_F(ServiceCheckTest, OneBackendFailingIsPartialAndNamesIt) {
  using R = check::ProbeResult;
  ServiceEvidence ev;
  ev.service = cluster_.services[0];
  const auto& b = ev.service.backends;
  ev.backends.push_back(
      backend(b[0], outcome({R::Answered, R::Answered}), VerdictKind::Reachable, "reachable"));
  ev.backends.push_back(backend(b[1], outcome({R::Timeout, R::Timeout}), VerdictKind::LinkDown,
                                "node2 eth0 is down", "node2 eth0"));
  const auto v = check::judge_service(ev);
  EXPECT_FALSE(v.reachable);
  EXPECT_EQ(v.kind, ServiceVerdictKind::Partial);
  EXPECT_EQ(v.summary, "1 of 2 backends fails: pod default/db-0 (node2): node2 eth0 is down");
  EXPECT_EQ(v.hop, "node2 eth0");
  ASSERT_GE(v.details.size(), 2U);
  EXPECT_EQ(v.details[0], "pod default/web-7d4b9-x2k4q (node1): 2/2 connections answered");
  EXPECT_EQ(v.details[1], "pod default/db-0 (node2): 0/2 connections answered: 2 timed out");
}

TEST_F(ServiceCheckTest, EveryBackendFailingIsUnreachable) {
  using R = check::ProbeResult;
  ServiceEvidence ev;
  ev.service = cluster_.services[0];
  const auto& b = ev.service.backends;
  ev.backends.push_back(backend(b[0], outcome({R::Refused}), VerdictKind::PortClosed,
                                "TCP RST from destination (port closed)"));
  const auto v = check::judge_service(ev);
  EXPECT_EQ(v.kind, ServiceVerdictKind::Unreachable);
  EXPECT_EQ(
      v.summary,
      "service default/web does not answer (0/1 connections): pod default/web-7d4b9-x2k4q (node1): TCP RST "
      "from destination (port closed)");
  // The backend no connection went to is named: it was not checked.
  EXPECT_EQ(v.details.back(),
            "pod default/db-0 (node2) was not picked by any of the 1 connections: not checked (more with "
            "--connections)");
}

TEST_F(ServiceCheckTest, KubeProxysRejectWithoutABackendIsNoEndpoints) {
  ServiceEvidence ev;
  ev.service = cluster_.services[0];
  ev.service.backends.clear();
  check::UntranslatedReport u;
  u.evidence = outcome({check::ProbeResult::Refused, check::ProbeResult::Refused});
  check::IcmpError e;
  e.from = ip("10.10.129.1");
  e.type = ICMP_DEST_UNREACH;
  e.code = ICMP_PORT_UNREACH;
  for (auto& p : u.evidence.probes) p.icmp = e;
  u.evidence.outcome = check::summarize(u.evidence.probes);
  u.verdict.details = {"2× NETFILTER_DROP at node1 cbr0"};
  u.reject_node = "node1";
  ev.untranslated = u;
  const auto v = check::judge_service(ev);
  EXPECT_EQ(v.kind, ServiceVerdictKind::NoEndpoints);
  EXPECT_EQ(
      v.summary,
      "no endpoints: kube-proxy's REJECT at node1 answers service default/web with ICMP port unreachable "
      "(2/2 connections refused)");
  EXPECT_EQ(v.details.at(0), "ICMP port unreachable from 10.10.129.1 (node1), no DNAT to any backend");
  EXPECT_EQ(v.details.at(1), "the inventory lists no endpoints for service default/web");
  EXPECT_EQ(v.details.at(2), "2× NETFILTER_DROP at node1 cbr0");
  // Refused by a RST (no ICMP) is no REJECT: not "no endpoints".
  for (auto& p : ev.untranslated->evidence.probes) p.icmp.reset();
  ev.untranslated->evidence.outcome = check::summarize(ev.untranslated->evidence.probes);
  EXPECT_EQ(check::judge_service(ev).kind, ServiceVerdictKind::Unreachable);
}

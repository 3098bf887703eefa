// Flow filters, protocol names, the CIDR matrix and health rendering.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "inventory/cidrs.hpp"
#include "output/filter.hpp"
#include "output/stats_view.hpp"

using podpath::model::Cidr;
using podpath::model::FlowKey;
using podpath::model::IpAddress;
using podpath::output::FlowFilter;

namespace {

struct Fixture {
  podpath::model::Pod web, db;
  podpath::flows::Flow flow;
  podpath::output::ConversationView view;

  Fixture(const char* src, const char* dst, std::uint8_t proto, std::uint16_t sport, std::uint16_t dport) {
    web.ns = "default";
    web.name = "web-1";
    db.ns = "prod";
    db.name = "db-0";
    flow.key.src = *IpAddress::parse(src);
    flow.key.dst = *IpAddress::parse(dst);
    flow.key.proto = proto;
    flow.key.sport = sport;
    flow.key.dport = dport;
    view.forward.flow = &flow;
    view.forward.src.ip = flow.key.src;
    view.forward.src.pod = std::make_shared<const podpath::model::Pod>(web);
    view.forward.src.node = "node1";
    view.forward.dst.ip = flow.key.dst;
    view.forward.dst.pod = std::make_shared<const podpath::model::Pod>(db);
    view.forward.dst.node = "node2";
  }
};

}  // namespace

TEST(FlowFilter, EachCriterionMatchesEitherEnd) {
  Fixture f("10.10.129.2", "10.10.130.2", IPPROTO_TCP, 43512, 5432);
  FlowFilter all;
  EXPECT_TRUE(all.empty());
  EXPECT_TRUE(all.matches(f.view));

  FlowFilter by_pod;
  by_pod.pods = {"db-0"};
  EXPECT_TRUE(by_pod.matches(f.view));
  by_pod.pods = {"prod/db-0"};
  EXPECT_TRUE(by_pod.matches(f.view));
  by_pod.pods = {"default/db-0"};
  EXPECT_FALSE(by_pod.matches(f.view));

  FlowFilter by_ns;
  by_ns.namespaces = {"prod"};
  EXPECT_TRUE(by_ns.matches(f.view));
  by_ns.namespaces = {"kube-system"};
  EXPECT_FALSE(by_ns.matches(f.view));

  FlowFilter by_node;
  by_node.nodes = {"node2"};
  EXPECT_TRUE(by_node.matches(f.view));
  by_node.nodes = {"node3"};
  EXPECT_FALSE(by_node.matches(f.view));

  FlowFilter by_cidr;
  by_cidr.cidrs = {*Cidr::parse("10.10.130.0/24")};
  EXPECT_TRUE(by_cidr.matches(f.view));
  by_cidr.cidrs = {*Cidr::parse("10.10.131.0/24")};
  EXPECT_FALSE(by_cidr.matches(f.view));

  FlowFilter by_port;
  by_port.ports = {5432};
  EXPECT_TRUE(by_port.matches(f.view));
  by_port.ports = {43512};
  EXPECT_TRUE(by_port.matches(f.view));
  by_port.ports = {80};
  EXPECT_FALSE(by_port.matches(f.view));

  FlowFilter combined;  // every criterion must hold
  combined.pods = {"web-1"};
  combined.protos = {IPPROTO_UDP};
  EXPECT_FALSE(combined.matches(f.view));
  combined.protos = {IPPROTO_TCP};
  EXPECT_TRUE(combined.matches(f.view));
}

TEST(FlowFilter, PortsOnlyMatchProtocolsWithPorts) {
  Fixture icmp("10.10.129.2", "10.10.130.2", IPPROTO_ICMP, 7, 8 << 8);
  FlowFilter f;
  f.ports = {7};  // the echo id sits in sport: not a port
  EXPECT_FALSE(f.matches(icmp.view));
}

TEST(FlowFilter, ControlTrafficIsHiddenUnlessAsked) {
  Fixture mld("fe80::1", "ff02::16", IPPROTO_ICMPV6, 0, 143 << 8);
  Fixture mcast("10.10.129.2", "224.0.0.251", IPPROTO_UDP, 5353, 5353);
  Fixture bcast("10.10.129.2", "255.255.255.255", IPPROTO_UDP, 68, 67);
  Fixture pods("10.10.129.2", "10.10.130.2", IPPROTO_UDP, 1, 2);
  FlowFilter f;
  EXPECT_FALSE(f.matches(mld.view));
  EXPECT_FALSE(f.matches(mcast.view));
  EXPECT_FALSE(f.matches(bcast.view));
  EXPECT_TRUE(f.matches(pods.view));
  f.control_traffic = true;
  EXPECT_TRUE(f.matches(mld.view));
  EXPECT_TRUE(f.matches(mcast.view));
}

TEST(ParseProtocol, NamesNumbersAndErrors) {
  EXPECT_EQ(*podpath::output::parse_protocol("TCP"), IPPROTO_TCP);
  EXPECT_EQ(*podpath::output::parse_protocol("udp"), IPPROTO_UDP);
  EXPECT_EQ(*podpath::output::parse_protocol("icmpv6"), IPPROTO_ICMPV6);
  EXPECT_EQ(*podpath::output::parse_protocol("sctp"), IPPROTO_SCTP);
  EXPECT_EQ(*podpath::output::parse_protocol("47"), 47);
  EXPECT_FALSE(podpath::output::parse_protocol("256"));
  EXPECT_FALSE(podpath::output::parse_protocol("-1"));
  EXPECT_FALSE(podpath::output::parse_protocol(""));
  EXPECT_FALSE(podpath::output::parse_protocol("tcpx"));
}

TEST(MatrixView, RowsAreLabelledAndOrderedByPackets) {
  podpath::model::Cluster cluster;
  podpath::model::Node n1, n2;
  n1.name = "node1";
  n1.pod_cidr = *Cidr::parse("10.10.129.0/24");
  n2.name = "node2";
  n2.pod_cidr = *Cidr::parse("10.10.130.0/24");
  cluster.nodes = {n1, n2};
  auto table = podpath::inventory::CidrTable::build(cluster);
  ASSERT_TRUE(table) << table.error().to_string();
  const auto rows =
      podpath::output::matrix_rows({{1, 2, 25, 2450}, {2, 1, 30, 2940}, {1, 0, 3, 300}}, *table);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].packets, 30u);
  EXPECT_EQ(rows[0].src->node, "node2");
  EXPECT_EQ(rows[2].dst, nullptr);  // "other"
  const auto text = podpath::output::render_matrix(rows, false);
  EXPECT_NE(text.find("10.10.129.0/24 (node1 pods)  → 10.10.130.0/24 (node2 pods)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("→ other"), std::string::npos) << text;
  const auto json = podpath::output::matrix_to_json(rows);
  EXPECT_EQ(json[1]["src"]["label"], "node1 pods");
  EXPECT_EQ(json[1]["packets"], 25);
  EXPECT_EQ(json[2]["dst"]["label"], "other");
  EXPECT_EQ(podpath::output::render_matrix({}, false), "no traffic counted between CIDRs yet\n");
}

TEST(HealthView, NamesEveryCounterAndFlagsLoss) {
  using podpath::bpf::FlowCounter;
  podpath::bpf::FlowCounters c;
  c[FlowCounter::EventsLost] = 3;
  c[FlowCounter::L4Truncated] = 2;
  c[FlowCounter::TcpBadOffset] = 1;
  c[FlowCounter::NewFlows] = 9;
  const auto line = podpath::output::render_health(c, false);
  EXPECT_EQ(
      line,
      "health: 3 events lost, 0 flows lost (map full), 0 flows lost (busy/other), 3 parse errors, 9 new "
      "flows, 0 packets seen\n");
  EXPECT_NE(podpath::output::render_health(c, true).find("\x1b[1;31m3 events lost"), std::string::npos);
  const auto j = podpath::output::health_to_json(c);
  EXPECT_EQ(j.size(), podpath::bpf::FlowCounters::kSize);
  EXPECT_EQ(j["events_lost_ringbuf_full"], 3);
  EXPECT_EQ(j["parse_tcp_bad_offset"], 1);
}

// Changes the change log had no room for show once there were some (nothing was lost: those
// refreshes walked the maps), after evictions, like them in yellow.
TEST(HealthView, ShowsChangesTheLogHadNoRoomForOnceThereAreSome) {
  using podpath::bpf::FlowCounter;
  podpath::bpf::FlowCounters c;
  c[FlowCounter::ChangeLogFull] = 64;
  EXPECT_EQ(
      podpath::output::render_health(c, false, 2),
      "health: 0 events lost, 0 flows lost (map full), 0 flows lost (busy/other), 2 quiet flows evicted (map "
      "pressure), 64 changes not logged (log full: refreshes walked), 0 parse errors, 0 new flows, 0 packets "
      "seen\n");
  EXPECT_NE(podpath::output::render_health(c, true).find("\x1b[1;33m64 changes not logged"),
            std::string::npos)
      << podpath::output::render_health(c, true);
  c[FlowCounter::ChangeLogFull] = 0;
  EXPECT_EQ(podpath::output::render_health(c, false).find("not logged"), std::string::npos);
}

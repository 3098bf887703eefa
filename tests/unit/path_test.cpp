// The path composer on the seed's lab: two nodes, a gateway, routes from the seed.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <filesystem>

#include "flows/aggregator.hpp"
#include "flows/path.hpp"
#include "inventory/cidrs.hpp"
#include "inventory/lab_inventory.hpp"
#include "inventory/resolver.hpp"
#include "output/flow_json.hpp"
#include "output/flow_table.hpp"

using podpath::flows::Flow;
using podpath::flows::HopDirection;
using podpath::flows::HopState;
using podpath::flows::InterfaceRole;
using podpath::flows::Path;
using podpath::flows::PathGateway;
using podpath::flows::PathNode;
using podpath::flows::PointStats;
using podpath::flows::Topology;
using podpath::model::Cidr;
using podpath::model::Direction;
using podpath::model::FlowKey;
using podpath::model::IpAddress;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

podpath::net::Route route(const std::string& dst, const char* via, const char* dev, std::uint32_t metric) {
  podpath::net::Route r;
  r.dst = *Cidr::parse(dst);
  if (via != nullptr) r.gateway = ip(via);
  r.dev = dev;
  r.metric = metric;
  return r;
}

podpath::net::RouteTable seed_table(int i) {
  podpath::net::RouteTable t;
  t.add(route("0.0.0.0/0", "10.0.0.1", "eth0", 100));
  t.add(route("10.0.0.0/24", nullptr, "eth0", 0));
  t.add(route("10.0.0.1/32", nullptr, "eth0", 100));
  t.add(route("10.10." + std::to_string(128 + i) + ".0/24", nullptr, "cbr0", 0));
  t.add(route("172.17.0.0/24", nullptr, "docker0", 0));
  return t;
}

constexpr std::uint64_t kNode1 = 1001, kNode2 = 1002;
constexpr std::uint32_t kEth0 = 2, kDocker0 = 3, kCbr0 = 4, kVethA = 6, kVethB = 7;

/// The fixture lab plus a second pod on node1, its routes, its gateway and the
/// interfaces podpath watches.
class PathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = podpath::inventory::read_lab_inventory(std::filesystem::path(PODPATH_TEST_DATA) /
                                                    "lab_inventory.json");
    ASSERT_TRUE(c) << c.error().to_string();
    cluster_ = *c;
    podpath::model::Pod api;
    api.ns = "default";
    api.name = "api-0";
    api.node = "node1";
    api.ip = ip("10.10.129.3");
    api.veth = "veth11aa22bb";
    cluster_.pods.push_back(api);
    auto cidrs = podpath::inventory::CidrTable::build(cluster_);
    ASSERT_TRUE(cidrs);
    cidrs_ = *cidrs;

    for (int i = 1; i <= 2; ++i) topo_.nodes.push_back(PathNode::from(cluster_.nodes[i - 1], seed_table(i)));
    topo_.gateway = PathGateway::from(*cluster_.gateway, cluster_.underlay);
    add_iface(kNode1, kEth0, "node1", "eth0", InterfaceRole::Uplink);
    add_iface(kNode1, kDocker0, "node1", "docker0", InterfaceRole::Other);
    add_iface(kNode1, kCbr0, "node1", "cbr0", InterfaceRole::Bridge);
    add_iface(kNode1, kVethA, "node1", "veth3a9c1f02", InterfaceRole::PodVeth, "default/web-7d4b9-x2k4q");
    add_iface(kNode1, kVethB, "node1", "veth11aa22bb", InterfaceRole::PodVeth, "default/api-0");
    add_iface(kNode2, kEth0, "node2", "eth0", InterfaceRole::Uplink);
    add_iface(kNode2, kCbr0, "node2", "cbr0", InterfaceRole::Bridge);
    add_iface(kNode2, kVethA, "node2", "vethb61703ca", InterfaceRole::PodVeth, "default/db-0");
  }

  void add_iface(std::uint64_t cookie, std::uint32_t ifindex, const char* node, const char* name,
                 InterfaceRole role, const char* pod = "") {
    topo_.interfaces[{cookie, ifindex}] = {node, name, role, pod};
  }

  struct Seen {
    std::uint64_t cookie;
    std::uint32_t ifindex;
    Direction dir;
  };

  Flow flow(const char* src, const char* dst, std::initializer_list<Seen> seen, std::uint64_t packets = 20) {
    Flow f;
    f.key.src = ip(src);
    f.key.dst = ip(dst);
    f.key.proto = IPPROTO_ICMP;
    f.key.sport = 7;
    f.key.dport = 8 << 8;
    for (const auto& s : seen) {
      PointStats p;
      p.point = {s.cookie, s.ifindex, s.dir};
      p.packets = packets;
      p.bytes = packets * 98;
      f.points.push_back(p);
    }
    return f;
  }

  Path compose(const Flow& f) {
    const podpath::inventory::Resolver resolver(cluster_, cidrs_);
    return podpath::flows::compose_path(f, resolver.resolve(f.key.src), resolver.resolve(f.key.dst), topo_);
  }

  static std::string hops(const Path& p) {
    std::string s;
    for (const auto& h : p.hops) {
      s += h.node + ":" + h.interface + ":" + to_string(h.direction) + ":" + to_string(h.state) + "\n";
    }
    return s;
  }

  podpath::model::Cluster cluster_;
  podpath::inventory::CidrTable cidrs_;
  Topology topo_;
};

constexpr auto In = Direction::Ingress;
constexpr auto Out = Direction::Egress;

}  // namespace

TEST_F(PathTest, CrossNodeViaGatewayIsSixObservedHopsAndOneVirtual) {
  const Path p = compose(flow("10.10.129.2", "10.10.130.2",
                              {{kNode1, kVethA, In},
                               {kNode1, kCbr0, In},
                               {kNode1, kEth0, Out},
                               {kNode2, kEth0, In},
                               {kNode2, kCbr0, Out},
                               {kNode2, kVethA, Out}}));
  EXPECT_EQ(hops(p), "node1:veth3a9c1f02:ingress:observed\n"
                     "node1:cbr0:ingress:observed\n"
                     "node1:eth0:egress:observed\n"
                     "gateway:br-underlay:forward:virtual\n"
                     "node2:eth0:ingress:observed\n"
                     "node2:cbr0:egress:observed\n"
                     "node2:vethb61703ca:egress:observed\n");
  ASSERT_EQ(p.hops.size(), 7u);
  EXPECT_EQ(p.hops[0].note, "from pod web-7d4b9-x2k4q");
  EXPECT_EQ(p.hops[0].role, InterfaceRole::PodVeth);
  ASSERT_TRUE(p.hops[0].stats);
  EXPECT_EQ(p.hops[0].stats->packets, 20u);
  EXPECT_EQ(p.hops[1].note, "10.10.130.2 not local; route 0.0.0.0/0 via 10.0.0.1 dev eth0");
  EXPECT_EQ(p.hops[1].route, "0.0.0.0/0 via 10.0.0.1 dev eth0");
  EXPECT_EQ(p.hops[2].note, "→ gateway 10.0.0.1");
  EXPECT_EQ(p.hops[2].route, "0.0.0.0/0 via 10.0.0.1 dev eth0");
  EXPECT_EQ(p.hops[3].route, "10.10.130.0/24 via 10.0.0.3 dev br-underlay");
  EXPECT_EQ(p.hops[3].note, "route 10.10.130.0/24 via 10.0.0.3 (not observed)");
  EXPECT_FALSE(p.hops[3].stats);
  EXPECT_EQ(p.hops[4].note, "← 10.0.0.1 (gateway route 10.10.130.0/24 via 10.0.0.3)");
  EXPECT_EQ(p.hops[5].note, "route 10.10.130.0/24 dev cbr0 (local pod CIDR)");
  EXPECT_EQ(p.hops[5].route, "10.10.130.0/24 dev cbr0");
  EXPECT_EQ(p.hops[6].note, "to pod db-0");
  EXPECT_TRUE(p.complete);
  EXPECT_EQ(p.verdict, "delivered to pod default/db-0 on node2");
}

TEST_F(PathTest, SameNodeIsBridgedVethToVeth) {
  const Path p = compose(flow("10.10.129.2", "10.10.129.3", {{kNode1, kVethA, In}, {kNode1, kVethB, Out}}));
  EXPECT_EQ(hops(p), "node1:veth3a9c1f02:ingress:observed\n"
                     "node1:veth11aa22bb:egress:observed\n");
  EXPECT_NE(p.hops[1].note.find("bridged on cbr0, 10.10.129.0/24 dev cbr0 (local pod CIDR)"),
            std::string::npos)
      << p.hops[1].note;
  EXPECT_EQ(p.hops[1].route, "10.10.129.0/24 dev cbr0");
  EXPECT_TRUE(p.complete);
  EXPECT_NE(p.verdict.find("same node, bridged"), std::string::npos);
}

TEST_F(PathTest, AMissingHopSaysWhereThePacketsStopped) {
  const Path p = compose(
      flow("10.10.129.2", "10.10.130.2", {{kNode1, kVethA, In}, {kNode1, kCbr0, In}, {kNode1, kEth0, Out}}));
  EXPECT_EQ(hops(p), "node1:veth3a9c1f02:ingress:observed\n"
                     "node1:cbr0:ingress:observed\n"
                     "node1:eth0:egress:observed\n"
                     "gateway:br-underlay:forward:virtual\n"
                     "node2:eth0:ingress:missing\n"
                     "node2:cbr0:egress:missing\n"
                     "node2:vethb61703ca:egress:missing\n");
  EXPECT_FALSE(p.complete);
  EXPECT_EQ(p.verdict, "stops after node1 eth0 egress: never reached node2 eth0 ingress");
  EXPECT_EQ(p.hops[4].note.rfind("not seen: left node1 eth0, never reached node2 eth0", 0), 0u)
      << p.hops[4].note;
  EXPECT_NE(p.hops[5].note.find("stopped earlier"), std::string::npos);
}

TEST_F(PathTest, AHopMissingBeforeObservedOnesIsNotWhereItStopped) {
  const Path p = compose(flow("10.10.129.2", "10.10.130.2",
                              {{kNode1, kVethA, In},
                               {kNode1, kEth0, Out},
                               {kNode2, kEth0, In},
                               {kNode2, kCbr0, Out},
                               {kNode2, kVethA, Out}}));
  EXPECT_EQ(p.hops[1].state, HopState::Missing);
  EXPECT_NE(p.hops[1].note.find("although later hops were"), std::string::npos) << p.hops[1].note;
  EXPECT_FALSE(p.complete);
  EXPECT_EQ(p.verdict, "delivered to pod default/db-0 on node2");
}

TEST_F(PathTest, PodToExternalLeavesThroughUplinkAndGateway) {
  const Path p = compose(
      flow("10.10.129.2", "8.8.8.8", {{kNode1, kVethA, In}, {kNode1, kCbr0, In}, {kNode1, kEth0, Out}}));
  EXPECT_EQ(hops(p), "node1:veth3a9c1f02:ingress:observed\n"
                     "node1:cbr0:ingress:observed\n"
                     "node1:eth0:egress:observed\n"
                     "gateway:br-underlay:forward:virtual\n");
  EXPECT_EQ(p.hops[1].note, "8.8.8.8 not local; route 0.0.0.0/0 via 10.0.0.1 dev eth0");
  EXPECT_NE(p.hops[3].note.find("no route to 8.8.8.8"), std::string::npos);
  EXPECT_TRUE(p.complete);
  EXPECT_EQ(p.verdict, "leaves the cluster at the gateway 10.0.0.1: it has no route to 8.8.8.8");
}

TEST_F(PathTest, MasqueradedExternalFlowHintsAtSnat) {
  const Path p = compose(flow("10.10.129.2", "8.8.8.8", {{kNode1, kVethA, In}, {kNode1, kCbr0, In}}));
  EXPECT_EQ(p.hops[2].state, HopState::Missing);
  EXPECT_NE(p.hops[2].note.find("masquerades (SNAT)"), std::string::npos) << p.hops[2].note;
}

TEST_F(PathTest, NodeToRemotePodStartsAtTheHostStack) {
  const Path p =
      compose(flow("10.0.0.2", "10.10.130.2",
                   {{kNode1, kEth0, Out}, {kNode2, kEth0, In}, {kNode2, kCbr0, Out}, {kNode2, kVethA, Out}}));
  EXPECT_EQ(hops(p), "node1:eth0:egress:observed\n"
                     "gateway:br-underlay:forward:virtual\n"
                     "node2:eth0:ingress:observed\n"
                     "node2:cbr0:egress:observed\n"
                     "node2:vethb61703ca:egress:observed\n");
  EXPECT_EQ(p.hops[0].note, "from node1 (host); → gateway 10.0.0.1");
  EXPECT_TRUE(p.complete);
}

TEST_F(PathTest, PodToOtherNodeGoesDirectlyOverTheUnderlay) {
  const Path p =
      compose(flow("10.10.129.2", "10.0.0.3",
                   {{kNode1, kVethA, In}, {kNode1, kCbr0, In}, {kNode1, kEth0, Out}, {kNode2, kEth0, In}}));
  EXPECT_EQ(hops(p), "node1:veth3a9c1f02:ingress:observed\n"
                     "node1:cbr0:ingress:observed\n"
                     "node1:eth0:egress:observed\n"
                     "node2:eth0:ingress:observed\n");
  EXPECT_EQ(p.hops[1].route, "10.0.0.0/24 dev eth0");
  EXPECT_EQ(p.hops[2].note, "→ node2 10.0.0.3 (underlay)");
  EXPECT_NE(p.hops[3].note.find("10.0.0.3 is local: delivered to node2"), std::string::npos)
      << p.hops[3].note;
  EXPECT_EQ(p.verdict, "delivered to node2 (10.0.0.3)");
}

TEST_F(PathTest, PodToItsOwnNodeEndsAtTheBridge) {
  const Path p = compose(flow("10.10.129.2", "10.10.129.1", {{kNode1, kVethA, In}, {kNode1, kCbr0, In}}));
  EXPECT_EQ(hops(p), "node1:veth3a9c1f02:ingress:observed\n"
                     "node1:cbr0:ingress:observed\n");
  EXPECT_EQ(p.verdict, "delivered to node1 (10.10.129.1)");
}

TEST_F(PathTest, UnexpectedPointsAreShownNextToTheirNode) {
  const Path p =
      compose(flow("10.10.129.2", "10.10.129.3",
                   {{kNode1, kVethA, In}, {kNode1, kVethB, Out}, {kNode1, kDocker0, Out}, {99, 9, In}}));
  EXPECT_EQ(hops(p), "node1:veth3a9c1f02:ingress:observed\n"
                     "node1:veth11aa22bb:egress:observed\n"
                     "node1:docker0:egress:unexpected\n"
                     "netns:99:if9:ingress:unexpected\n");
  EXPECT_TRUE(p.complete);
}

TEST_F(PathTest, UnknownGatewayRoutesStillReachTheDestinationNode) {
  topo_.gateway->routes = {};
  const Path p = compose(flow("10.10.129.2", "10.10.130.2", {{kNode1, kVethA, In}}));
  ASSERT_EQ(p.hops.size(), 7u);
  EXPECT_NE(p.hops[3].note.find("routes are unknown"), std::string::npos);
  EXPECT_EQ(p.hops[4].node, "node2");
  EXPECT_EQ(p.hops[4].direction, HopDirection::Ingress);
}

TEST_F(PathTest, AWrongGatewayRouteIsARoutingLoop) {
  podpath::model::Gateway gw = *cluster_.gateway;
  gw.routes[1].via = ip("10.0.0.2");  // node2's pods sent back to node1
  topo_.gateway = PathGateway::from(gw, cluster_.underlay);
  const Path p =
      compose(flow("10.10.129.2", "10.10.130.2",
                   {{kNode1, kVethA, In}, {kNode1, kCbr0, In}, {kNode1, kEth0, Out}, {kNode1, kEth0, In}}));
  EXPECT_NE(p.verdict.find("routing loop"), std::string::npos) << p.verdict << "\n" << hops(p);
  EXPECT_LE(p.hops.size(), 32u);
}

TEST_F(PathTest, NoRouteIsADrop) {
  topo_.nodes[0].routes = podpath::net::RouteTable();
  const Path p = compose(flow("10.10.129.2", "10.10.130.2", {{kNode1, kVethA, In}, {kNode1, kCbr0, In}}));
  ASSERT_EQ(p.hops.size(), 2u);
  EXPECT_NE(p.hops[1].note.find("no route to 10.10.130.2"), std::string::npos);
  EXPECT_NE(p.verdict.find("Network is unreachable"), std::string::npos);
}

namespace {

/// The flows map after `ping -c 20` from web (node1) to db (node2): 20 requests and 20
/// replies, each counted at the six hooks on its way.
class PingSource final : public podpath::flows::FlowSource {
 public:
  podpath::Result<std::vector<podpath::model::FlowRecord>> read() override {
    std::vector<podpath::model::FlowRecord> out;
    FlowKey req;
    req.src = ip("10.10.129.2");
    req.dst = ip("10.10.130.2");
    req.proto = IPPROTO_ICMP;
    req.sport = 7;
    req.dport = 8 << 8;
    const FlowKey rep = req.reversed();
    auto add = [&](const FlowKey& k, std::uint64_t cookie, std::uint32_t ifindex, Direction dir,
                   std::uint64_t t0) {
      podpath::model::FlowRecord r;
      r.point = {cookie, ifindex, dir};
      r.key = k;
      r.stats.packets = 20;
      r.stats.bytes = 20 * 98;
      r.stats.first_seen_ns = t0;
      r.stats.last_seen_ns = t0 + 19;
      out.push_back(r);
    };
    add(req, kNode1, kVethA, Direction::Ingress, 100);
    add(req, kNode1, kCbr0, Direction::Ingress, 101);
    add(req, kNode1, kEth0, Direction::Egress, 102);
    add(req, kNode2, kEth0, Direction::Ingress, 103);
    add(req, kNode2, kCbr0, Direction::Egress, 104);
    add(req, kNode2, kVethA, Direction::Egress, 105);
    add(rep, kNode2, kVethA, Direction::Ingress, 106);
    add(rep, kNode2, kCbr0, Direction::Ingress, 107);
    add(rep, kNode2, kEth0, Direction::Egress, 108);
    add(rep, kNode1, kEth0, Direction::Ingress, 109);
    add(rep, kNode1, kCbr0, Direction::Egress, 110);
    add(rep, kNode1, kVethA, Direction::Egress, 111);
    return out;
  }
  podpath::Result<void> remove(const std::vector<podpath::flows::PointKey>&) override { return {}; }
};

}  // namespace

TEST_F(PathTest, PingAcrossNodesFromMapsToJson) {
  PingSource source;
  podpath::flows::Aggregator agg(source);
  ASSERT_TRUE(agg.update(1'000'000'000));
  const podpath::inventory::Resolver resolver(cluster_, cidrs_);
  const auto views = podpath::output::describe(agg.conversations(), resolver, topo_);
  ASSERT_EQ(views.size(), 1u);
  const auto j = podpath::output::conversation_to_json(views[0]);
  EXPECT_EQ(j["src"]["name"], "default/web-7d4b9-x2k4q");
  EXPECT_EQ(j["dst"]["name"], "default/db-0");
  for (const char* dir : {"forward", "reverse"}) {
    const auto& d = j[dir];
    EXPECT_EQ(d["packets"], 20) << dir;
    EXPECT_EQ(d["complete"], true) << dir;
    std::size_t observed = 0;
    for (const auto& h : d["hops"]) {
      if (h["observed"] == true) {
        ++observed;
        EXPECT_EQ(h["packets"], 20);
      }
      EXPECT_NE(h["note"], "") << h.dump();
    }
    EXPECT_EQ(observed, 6u) << dir;
    EXPECT_EQ(d["hops"].size(), 7u) << dir;
  }
  EXPECT_EQ(j["reverse"]["hops"][3]["route"], "10.10.129.0/24 via 10.0.0.2 dev br-underlay");
  EXPECT_EQ(j["reverse"]["verdict"], "delivered to pod default/web-7d4b9-x2k4q on node1");
  const std::string text = podpath::output::render_flow_table(views, {});
  EXPECT_NE(
      text.find("default/web-7d4b9-x2k4q 10.10.129.2 → default/db-0 10.10.130.2  ICMP echo request id 7"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("  ↩ default/db-0 10.10.130.2 → default/web-7d4b9-x2k4q 10.10.129.2  ICMP echo reply id 7"),
      std::string::npos)
      << text;
}

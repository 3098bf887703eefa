// The path composer on the seed's lab: two nodes, a gateway, routes from the seed.
#include "path_fixture.hpp"

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

// A connection to a Service, joined across kube-proxy's DNAT on node1: the request's path runs
// from the client to the backend the Service picked, and the DNAT shows on the hop after which
// it happened (node1's cbr0 ingress: PREROUTING runs right after it), with the Service and rule.
TEST_F(PathTest, TheDnatOfAServiceShowsAtTheHopWhereItHappenedWithItsRule) {
  podpath::model::Service web;
  web.ns = "default";
  web.name = "web";
  web.cluster_ip = ip("10.96.0.10");
  web.proto = IPPROTO_TCP;
  web.port = 80;
  web.target_port = 8080;
  web.backends.push_back({"default/db-0", ip("10.10.130.2"), "node2", "KUBE-SEP-TESTTESTTESTTEST"});
  cluster_.services.push_back(web);

  Flow f = flow("10.10.129.2", "10.96.0.10",
                {{kNode1, kVethA, In},
                 {kNode1, kCbr0, In},
                 {kNode1, kEth0, Out},
                 {kNode2, kEth0, In},
                 {kNode2, kCbr0, Out},
                 {kNode2, kVethA, Out}});
  f.key.proto = IPPROTO_TCP;
  f.key.sport = 43512;
  f.key.dport = 80;
  podpath::model::FlowKey translated = f.key;
  translated.dst = ip("10.10.130.2");
  translated.dport = 8080;
  podpath::model::NatRecord nat;
  nat.point = {kNode1, kEth0, Out};
  nat.original = f.key;
  nat.reply = translated.reversed();
  nat.dnat = true;
  f.set_nat(nat, translated);
  for (auto& p : f.points) p.before_nat = p.point.netns_cookie == kNode1 && p.point.ifindex != kEth0;

  const podpath::inventory::Resolver resolver(std::make_shared<const podpath::model::Cluster>(cluster_),
                                              cidrs_);
  EXPECT_EQ(resolver.resolve(ip("10.96.0.10")).name, "default/web");
  Path p = podpath::flows::compose_path(f, resolver.resolve(f.key.src),
                                        resolver.resolve(f.translated_key().dst), topo_);
  podpath::flows::annotate_nat(p, f, resolver.explain_nat(nat));
  EXPECT_EQ(hops(p), "node1:veth3a9c1f02:ingress:observed\n"
                     "node1:cbr0:ingress:observed\n"
                     "node1:eth0:egress:observed\n"
                     "gateway:br-underlay:forward:virtual\n"
                     "node2:eth0:ingress:observed\n"
                     "node2:cbr0:egress:observed\n"
                     "node2:vethb61703ca:egress:observed\n");
  ASSERT_EQ(p.hops.size(), 7u);
  EXPECT_EQ(p.hops[1].nat,
            "DNAT 10.96.0.10:80 → 10.10.130.2:8080 (service default/web, rule KUBE-SEP-TESTTESTTESTTEST)");
  for (std::size_t i = 0; i < p.hops.size(); ++i) {
    if (i != 1) {
      EXPECT_EQ(p.hops[i].nat, "") << i;
    }
  }
  EXPECT_TRUE(p.complete);

  // The reply: from the backend, reverse-translated on node1 after its eth0 ingress.
  Flow r = flow("10.10.130.2", "10.10.129.2",
                {{kNode2, kVethA, In},
                 {kNode2, kCbr0, In},
                 {kNode2, kEth0, Out},
                 {kNode1, kEth0, In},
                 {kNode1, kCbr0, Out},
                 {kNode1, kVethA, Out}});
  r.key = nat.reply;
  r.set_nat(nat, nat.original.reversed());
  for (auto& pt : r.points) pt.before_nat = !(pt.point.netns_cookie == kNode1 && pt.point.ifindex != kEth0);
  Path rp = podpath::flows::compose_path(r, resolver.resolve(r.key.src), resolver.resolve(r.key.dst), topo_);
  podpath::flows::annotate_nat(rp, r, resolver.explain_nat(nat));
  ASSERT_EQ(rp.hops.size(), 7u);
  EXPECT_EQ(rp.hops[4].interface, "eth0");
  EXPECT_EQ(
      rp.hops[4].nat,
      "reverse DNAT 10.10.130.2:8080 → 10.96.0.10:80 (service default/web, rule KUBE-SEP-TESTTESTTESTTEST)");
}

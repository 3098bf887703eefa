// Route selection and `route -n` rendering, on the seed's two routing tables.
#include <gtest/gtest.h>

#include "net/route_table.hpp"

using podpath::model::Cidr;
using podpath::model::IpAddress;
using podpath::net::Route;
using podpath::net::RouteTable;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

Route route(const char* dst, const char* via, const char* dev, std::uint32_t metric,
            std::uint8_t protocol = podpath::net::kProtoKernel) {
  Route r;
  r.dst = *Cidr::parse(dst);
  if (via != nullptr) r.gateway = ip(via);
  r.dev = dev;
  r.metric = metric;
  r.protocol = protocol;
  r.scope = via == nullptr ? podpath::net::kScopeLink : podpath::net::kScopeUniverse;
  return r;
}

/// Node i of the seed, built in an order different from the kernel's on purpose.
RouteTable seed_table(int i) {
  const std::string pods = "10.10." + std::to_string(128 + i) + ".0/24";
  RouteTable t;
  t.add(route("172.17.0.0/24", nullptr, "docker0", 0));
  t.add(route(pods.c_str(), nullptr, "cbr0", 0));
  t.add(route("10.0.0.1/32", nullptr, "eth0", 100, podpath::net::kProtoDhcp));
  t.add(route("0.0.0.0/0", "10.0.0.1", "eth0", 100, podpath::net::kProtoDhcp));
  t.add(route("10.0.0.0/24", nullptr, "eth0", 0));
  return t;
}

}  // namespace

TEST(RouteN, SeedNode1TableIsExact) {
  // Copied from the seed (kubernetes-networking.en.md), example output on the first node.
  const std::string expected =
      "Kernel IP routing table\n"
      "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface\n"
      "0.0.0.0         10.0.0.1        0.0.0.0         UG    100    0        0 eth0\n"
      "10.0.0.0        0.0.0.0         255.255.255.0   U     0      0        0 eth0\n"
      "10.0.0.1        0.0.0.0         255.255.255.255 UH    100    0        0 eth0\n"
      "10.10.129.0     0.0.0.0         255.255.255.0   U     0      0        0 cbr0\n"
      "172.17.0.0      0.0.0.0         255.255.255.0   U     0      0        0 docker0\n";
  EXPECT_EQ(podpath::net::format_route_n(seed_table(1)), expected);
}

TEST(RouteN, SeedNode2TableIsExact) {
  const std::string expected =
      "Kernel IP routing table\n"
      "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface\n"
      "0.0.0.0         10.0.0.1        0.0.0.0         UG    100    0        0 eth0\n"
      "10.0.0.0        0.0.0.0         255.255.255.0   U     0      0        0 eth0\n"
      "10.0.0.1        0.0.0.0         255.255.255.255 UH    100    0        0 eth0\n"
      "10.10.130.0     0.0.0.0         255.255.255.0   U     0      0        0 cbr0\n"
      "172.17.0.0      0.0.0.0         255.255.255.0   U     0      0        0 docker0\n";
  EXPECT_EQ(podpath::net::format_route_n(seed_table(2)), expected);
}

TEST(RouteN, LeavesOutIpv6AndLocalRoutesAndOrdersLongerPrefixFirst) {
  RouteTable t;
  t.add(route("fe80::/64", nullptr, "eth0", 256));
  Route local = route("10.0.0.2/32", nullptr, "eth0", 0);
  local.type = podpath::net::kTypeLocal;
  t.add(local);
  t.add(route("10.1.0.0/16", nullptr, "eth1", 0));
  t.add(route("10.1.0.0/24", nullptr, "eth2", 0));
  t.add(route("10.1.0.0/24", "10.0.0.9", "eth0", 5));
  const std::string text = podpath::net::format_route_n(t);
  EXPECT_EQ(text.find("fe80"), std::string::npos) << text;
  EXPECT_EQ(text.find("10.0.0.2"), std::string::npos) << text;
  const auto a = text.find("255.255.255.0   U     0 ");
  const auto b = text.find("255.255.255.0   UG    5 ");
  const auto c = text.find("255.255.0.0     U     0 ");
  ASSERT_NE(a, std::string::npos) << text;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST(RouteN, RejectRoutesHaveBangAndDashes) {
  RouteTable t;
  Route r = route("10.9.0.0/16", nullptr, "", 0);
  r.type = podpath::net::kTypeUnreachable;
  t.add(r);
  EXPECT_EQ(r.flags(), "!");
  EXPECT_EQ(podpath::net::format_route_n_line(r),
            "10.9.0.0        -               255.255.0.0     !     0      -        0 -");
}

TEST(Route, FlagsMatchNetTools) {
  EXPECT_EQ(route("0.0.0.0/0", "10.0.0.1", "eth0", 100).flags(), "UG");
  EXPECT_EQ(route("10.0.0.0/24", nullptr, "eth0", 0).flags(), "U");
  EXPECT_EQ(route("10.0.0.1/32", nullptr, "eth0", 100).flags(), "UH");
  EXPECT_EQ(route("10.0.0.7/32", "10.0.0.1", "eth0", 0).flags(), "UGH");
}

TEST(Route, ToStringIsIpRouteStyleWithThePrefix) {
  EXPECT_EQ(route("0.0.0.0/0", "10.0.0.1", "eth0", 100).to_string(), "0.0.0.0/0 via 10.0.0.1 dev eth0");
  EXPECT_EQ(route("10.10.130.0/24", nullptr, "cbr0", 0).to_string(), "10.10.130.0/24 dev cbr0");
  Route bh = route("10.9.0.0/16", nullptr, "", 0);
  bh.type = podpath::net::kTypeBlackhole;
  EXPECT_EQ(bh.to_string(), "blackhole 10.9.0.0/16");
}

TEST(RouteLookup, LongestPrefixWins) {
  const RouteTable t = seed_table(1);
  EXPECT_EQ(t.lookup(ip("10.10.129.7"))->dev, "cbr0");
  EXPECT_EQ(t.lookup(ip("10.10.130.2"))->to_string(), "0.0.0.0/0 via 10.0.0.1 dev eth0");
  EXPECT_EQ(t.lookup(ip("10.0.0.1"))->dst.to_string(), "10.0.0.1/32");
  EXPECT_EQ(t.lookup(ip("10.0.0.3"))->dst.to_string(), "10.0.0.0/24");
  EXPECT_EQ(t.lookup(ip("8.8.8.8"))->dst.to_string(), "0.0.0.0/0");
  EXPECT_EQ(t.lookup(ip("172.17.0.5"))->dev, "docker0");
}

TEST(RouteLookup, LowestMetricWinsAmongEqualPrefixesThenTableOrder) {
  RouteTable t;
  t.add(route("10.1.0.0/16", "10.0.0.5", "eth0", 200));
  t.add(route("10.1.0.0/16", "10.0.0.6", "eth1", 50));
  t.add(route("10.1.0.0/16", "10.0.0.7", "eth2", 50));
  EXPECT_EQ(t.lookup(ip("10.1.2.3"))->dev, "eth1");
  EXPECT_EQ(t.find(*Cidr::parse("10.1.0.0/16"))->dev, "eth1");
}

TEST(RouteLookup, FamiliesDoNotMixAndNoMatchIsNull) {
  RouteTable t;
  t.add(route("10.0.0.0/8", nullptr, "eth0", 0));
  EXPECT_EQ(t.lookup(ip("fd00::1")), nullptr);
  EXPECT_EQ(t.lookup(ip("192.168.1.1")), nullptr);
  t.add(route("::/0", "fe80::1", "eth0", 1024));
  EXPECT_EQ(t.lookup(ip("fd00::1"))->dev, "eth0");
  EXPECT_EQ(t.lookup(ip("192.168.1.1")), nullptr);  // an IPv6 default does not catch IPv4
}

TEST(GatewayRouteTable, BuildsTheLabGatewayFromTheInventory) {
  podpath::model::Gateway gw;
  gw.name = "gateway";
  gw.ip = ip("10.0.0.1");
  gw.interface = "br-underlay";
  gw.routes = {{*Cidr::parse("10.10.129.0/24"), ip("10.0.0.2")},
               {*Cidr::parse("10.10.130.0/24"), ip("10.0.0.3")}};
  const RouteTable t = podpath::net::gateway_route_table(gw, Cidr::parse("10.0.0.0/24"));
  ASSERT_EQ(t.routes().size(), 3u);
  EXPECT_EQ(t.lookup(ip("10.10.130.2"))->to_string(), "10.10.130.0/24 via 10.0.0.3 dev br-underlay");
  EXPECT_EQ(t.lookup(ip("10.0.0.2"))->to_string(), "10.0.0.0/24 dev br-underlay");
  EXPECT_EQ(t.lookup(ip("8.8.8.8")), nullptr);
}

TEST(RouteNames, MatchIproute2) {
  EXPECT_EQ(podpath::net::route_scope_name(253), "link");
  EXPECT_EQ(podpath::net::route_scope_name(0), "global");
  EXPECT_EQ(podpath::net::route_protocol_name(16), "dhcp");
  EXPECT_EQ(podpath::net::route_protocol_name(2), "kernel");
  EXPECT_EQ(podpath::net::route_type_name(7), "unreachable");
  EXPECT_EQ(podpath::net::route_type_name(77), "77");
}

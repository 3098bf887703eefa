// Local discovery of a kubenet-style node, from fixture files and in-memory netlink data.
#include <gtest/gtest.h>

#include <filesystem>

#include "inventory/local_discovery.hpp"

using podpath::inventory::discover_local;
using podpath::inventory::IpamAllocation;
using podpath::inventory::LocalDiscoveryOptions;
using podpath::inventory::LocalNetwork;
using podpath::inventory::read_host_local_ipam;
using podpath::model::Cidr;
using podpath::model::IpAddress;
using podpath::net::Link;

namespace {

const std::filesystem::path kIpamDir = std::filesystem::path(PODPATH_TEST_DATA) / "cni" / "networks";

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

Link link(const char* name, std::uint32_t ifindex, const char* kind, std::uint32_t master = 0,
          const char* addr = nullptr, std::uint8_t prefix = 24) {
  Link l;
  l.name = name;
  l.ifindex = ifindex;
  l.kind = kind;
  l.master_ifindex = master;
  l.flags = 0x1 | 0x40;
  if (addr != nullptr) l.addresses.push_back({ip(addr), prefix, 0});
  return l;
}

podpath::net::Route route(const char* dst, const char* via, const char* dev, std::uint32_t metric) {
  podpath::net::Route r;
  r.dst = *Cidr::parse(dst);
  if (via != nullptr) r.gateway = ip(via);
  r.dev = dev;
  r.metric = metric;
  return r;
}

/// The seed's node1 as netlink would describe it.
LocalNetwork node1() {
  LocalNetwork n;
  n.hostname = "node1";
  n.links = {link("lo", 1, ""),
             link("eth0", 2, "", 0, "10.0.0.2"),
             link("docker0", 3, "bridge", 0, "172.17.0.1"),
             link("cbr0", 4, "bridge", 0, "10.10.129.1"),
             link("veth3a9c1f02", 5, "veth", 4),
             link("veth77d0e1aa", 6, "veth", 4)};
  n.routes.add(route("0.0.0.0/0", "10.0.0.1", "eth0", 100));
  n.routes.add(route("10.0.0.0/24", nullptr, "eth0", 0));
  n.routes.add(route("10.0.0.1/32", nullptr, "eth0", 100));
  n.routes.add(route("10.10.129.0/24", nullptr, "cbr0", 0));
  n.routes.add(route("172.17.0.0/24", nullptr, "docker0", 0));
  n.neighbours.neighbours.push_back({ip("10.10.129.2"), "02:00:0a:0a:81:02", 4, "cbr0", 0x02, "reachable"});
  n.neighbours.fdb.push_back({"02:00:0a:0a:81:02", 5, 4, false});
  n.neighbours.fdb.push_back({"aa:bb:cc:00:00:05", 5, 4, true});
  return n;
}

}  // namespace

TEST(HostLocalIpam, ReadsAllocationsAndSkipsBookkeepingFiles) {
  const auto a = read_host_local_ipam(kIpamDir);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].ip.to_string(), "10.10.129.2");
  EXPECT_EQ(a[0].network, "kubenet");
  EXPECT_EQ(a[0].container_id, "a1b2c3d4e5f60000000000000000000000000000000000000000000000000001");
  EXPECT_EQ(a[0].ifname, "eth0");
  EXPECT_EQ(a[2].ip.to_string(), "10.10.129.4");  // old format: the id alone
  EXPECT_EQ(a[2].ifname, "");
  EXPECT_EQ(a[3].network, "other");
  EXPECT_EQ(a[3].ifname, "eth1");
  EXPECT_TRUE(read_host_local_ipam(kIpamDir / "does-not-exist").empty());
}

TEST(LocalDiscovery, FindsBridgeCidrUplinkGatewayAndPods) {
  const auto found = discover_local(node1(), read_host_local_ipam(kIpamDir));
  ASSERT_TRUE(found) << found.error().to_string();
  const auto& c = found->cluster;
  ASSERT_EQ(c.nodes.size(), 1u);
  const auto& n = c.nodes[0];
  EXPECT_EQ(n.name, "node1");
  EXPECT_EQ(n.netns, "");
  EXPECT_EQ(n.pod_cidr.to_string(), "10.10.129.0/24");
  EXPECT_EQ(n.bridge_ip.to_string(), "10.10.129.1");
  EXPECT_EQ(n.interfaces.bridge, "cbr0");
  EXPECT_EQ(n.interfaces.uplink, "eth0");
  EXPECT_EQ(n.interfaces.docker, "docker0");
  EXPECT_EQ(n.underlay_ip.to_string(), "10.0.0.2");
  ASSERT_TRUE(c.underlay);
  EXPECT_EQ(c.underlay->to_string(), "10.0.0.0/24");
  ASSERT_TRUE(c.gateway);
  EXPECT_EQ(c.gateway->ip.to_string(), "10.0.0.1");
  EXPECT_EQ(found->pod_veths, (std::vector<std::string>{"veth3a9c1f02", "veth77d0e1aa"}));

  ASSERT_EQ(c.pods.size(), 3u);  // 10.99.0.5 belongs to another network
  const auto* p = c.find_pod_by_ip(ip("10.10.129.2"));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->sandbox_id, "a1b2c3d4e5f60000000000000000000000000000000000000000000000000001");
  EXPECT_EQ(p->name, "sandbox-a1b2c3d4e5f6");
  EXPECT_EQ(p->node, "node1");
  EXPECT_EQ(p->veth, "veth3a9c1f02");  // ARP entry on cbr0 -> MAC -> FDB port
  EXPECT_EQ(c.find_pod_by_ip(ip("10.10.129.3"))->veth, "");
  ASSERT_FALSE(found->notes.empty());
  EXPECT_NE(found->notes[0].find("1 IPAM allocation(s) outside 10.10.129.0/24"), std::string::npos)
      << found->notes[0];
}

TEST(LocalDiscovery, FallsBackToCni0AndHonoursOverrides) {
  LocalNetwork n = node1();
  n.links[3].name = "cni0";
  auto found = discover_local(n, {});
  ASSERT_TRUE(found) << found.error().to_string();
  EXPECT_EQ(found->cluster.nodes[0].interfaces.bridge, "cni0");
  EXPECT_TRUE(found->cluster.pods.empty());

  LocalDiscoveryOptions o;
  o.bridge = "docker0";
  o.hostname = "worker-7";
  found = discover_local(n, {}, o);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->cluster.nodes[0].name, "worker-7");
  EXPECT_EQ(found->cluster.nodes[0].pod_cidr.to_string(), "172.17.0.0/24");
  EXPECT_EQ(found->cluster.nodes[0].interfaces.docker, "");
}

TEST(LocalDiscovery, ExplainsAMissingBridge) {
  LocalNetwork n = node1();
  n.links[3].name = "br-other";
  const auto none = discover_local(n, {});
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("neither cbr0 nor cni0"), std::string::npos) << none.error().message;
  EXPECT_NE(none.error().message.find("--bridge"), std::string::npos);

  LocalDiscoveryOptions o;
  o.bridge = "cbr9";
  const auto named = discover_local(node1(), {}, o);
  ASSERT_FALSE(named);
  EXPECT_NE(named.error().message.find("no interface named 'cbr9'"), std::string::npos)
      << named.error().message;

  o.bridge = "veth3a9c1f02";
  const auto no_addr = discover_local(node1(), {}, o);
  ASSERT_FALSE(no_addr);
  EXPECT_NE(no_addr.error().message.find("has no IPv4 address"), std::string::npos);
}

TEST(LocalDiscovery, WithoutDefaultRouteTheUplinkIsUnknownButDiscoveryWorks) {
  LocalNetwork n = node1();
  n.routes = {};
  const auto found = discover_local(n, {});
  ASSERT_TRUE(found);
  EXPECT_EQ(found->cluster.nodes[0].interfaces.uplink, "");
  EXPECT_FALSE(found->cluster.gateway);
  EXPECT_NE(found->notes[0].find("no IPv4 default route"), std::string::npos);
}

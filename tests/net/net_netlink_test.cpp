// Root tier: links, routes, neighbours and link notifications read back by netlink from
// network namespaces the test builds (unique pptest-* names, deleted in TearDown). Node
// "a" reproduces the seed's node1: eth0 10.0.0.2/24 with the DHCP routes, cbr0
// 10.10.129.1/24 with one pod veth, docker0 172.17.0.1/24.
#include <gtest/gtest.h>
#include <net/if_arp.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../common/require_root.hpp"
#include "inventory/local_discovery.hpp"
#include "net/link_monitor.hpp"
#include "net/links.hpp"
#include "net/netns.hpp"
#include "net/routes.hpp"

using podpath::net::Link;
using podpath::net::LinkEvent;
using podpath::net::LinkEventType;

namespace {

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

std::string capture(const std::string& cmd) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
  if (!pipe) return out;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe.get()) != nullptr) out += buf.data();
  return out;
}

class NetlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODPATH_REQUIRE_ROOT();
    const std::string base = "pptest-" + std::to_string(::getpid()) + "-nl";
    a_ = base + "a";
    b_ = base + "b";
    ASSERT_EQ(sh("ip netns add " + a_), 0);
    ASSERT_EQ(sh("ip netns add " + b_), 0);
    // Everything below happens inside the test's namespaces (ip -n).
    const std::vector<std::string> setup = {
        "link set lo up",
        "link add eth0 type veth peer name gw0",
        "link set gw0 up",
        "addr add 10.0.0.2/24 dev eth0",
        "link set eth0 up",
        "route add 10.0.0.1/32 dev eth0 proto dhcp scope link metric 100",
        "route add default via 10.0.0.1 dev eth0 proto dhcp metric 100",
        "link add cbr0 type bridge",
        "addr add 10.10.129.1/24 dev cbr0",
        "link add veth3a9c1f02 type veth peer name pod0",
        "link set veth3a9c1f02 master cbr0 up",
        "link set pod0 up",
        "link set cbr0 up",
        "link add docker0 type bridge",
        "addr add 172.17.0.1/24 dev docker0",
        "link set docker0 up",
        "neigh add 10.0.0.1 lladdr 02:00:0a:00:00:01 dev eth0 nud permanent",
    };
    for (const auto& cmd : setup) ASSERT_EQ(sh("ip -n " + a_ + " " + cmd), 0) << cmd;
  }
  void TearDown() override {
    if (!a_.empty()) sh("ip netns del " + a_);
    if (!b_.empty()) sh("ip netns del " + b_);
  }
  std::string a_, b_;
};

}  // namespace

TEST_F(NetlinkTest, ListsLinksWithKindMasterStateAndAddresses) {
  const auto links = podpath::net::list_links(a_);
  ASSERT_TRUE(links) << links.error().to_string();
  const Link* lo = podpath::net::find_link(*links, "lo");
  const Link* cbr0 = podpath::net::find_link(*links, "cbr0");
  const Link* veth = podpath::net::find_link(*links, "veth3a9c1f02");
  const Link* eth0 = podpath::net::find_link(*links, "eth0");
  ASSERT_TRUE(lo && cbr0 && veth && eth0);
  EXPECT_TRUE(lo->is_loopback());
  EXPECT_EQ(lo->mac, "");
  EXPECT_EQ(cbr0->kind, "bridge");
  EXPECT_EQ(veth->kind, "veth");
  EXPECT_EQ(lo->link_type, static_cast<std::uint32_t>(ARPHRD_LOOPBACK));
  EXPECT_EQ(veth->link_type, static_cast<std::uint32_t>(ARPHRD_ETHER));
  EXPECT_EQ(cbr0->link_type, static_cast<std::uint32_t>(ARPHRD_ETHER));
  EXPECT_EQ(veth->master_ifindex, cbr0->ifindex);
  EXPECT_NE(veth->link_ifindex, 0u);  // its peer pod0
  EXPECT_TRUE(veth->is_up());
  EXPECT_EQ(eth0->oper_state, "up");
  EXPECT_EQ(eth0->mac.size(), 17u);
  ASSERT_TRUE(cbr0->ipv4());
  EXPECT_EQ(cbr0->ipv4()->to_string(), "10.10.129.1/24");
  EXPECT_EQ(cbr0->ipv4()->network().to_string(), "10.10.129.0/24");
  const auto ports = podpath::net::bridge_ports(*links, cbr0->ifindex);
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0]->name, "veth3a9c1f02");
  EXPECT_EQ(podpath::net::find_link(*links, eth0->ifindex), eth0);

  const auto other = podpath::net::list_links(b_);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->size(), 1u);  // only lo: nothing leaked across namespaces
}

TEST_F(NetlinkTest, ReadsTheSeedTableExactlyAsRouteN) {
  const auto table = podpath::net::read_routes(a_);
  ASSERT_TRUE(table) << table.error().to_string();
  const std::string expected =
      "Kernel IP routing table\n"
      "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface\n"
      "0.0.0.0         10.0.0.1        0.0.0.0         UG    100    0        0 eth0\n"
      "10.0.0.0        0.0.0.0         255.255.255.0   U     0      0        0 eth0\n"
      "10.0.0.1        0.0.0.0         255.255.255.255 UH    100    0        0 eth0\n"
      "10.10.129.0     0.0.0.0         255.255.255.0   U     0      0        0 cbr0\n"
      "172.17.0.0      0.0.0.0         255.255.255.0   U     0      0        0 docker0\n";
  EXPECT_EQ(podpath::net::format_route_n(*table), expected);
  if (sh("command -v route") == 0) {
    EXPECT_EQ(podpath::net::format_route_n(*table), capture("ip netns exec " + a_ + " route -n"));
  }
  const auto* def = table->lookup(*podpath::model::IpAddress::parse("10.10.130.2"));
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(def->to_string(), "0.0.0.0/0 via 10.0.0.1 dev eth0");
  EXPECT_EQ(def->protocol, podpath::net::kProtoDhcp);
  const auto* pods = table->lookup(*podpath::model::IpAddress::parse("10.10.129.9"));
  ASSERT_NE(pods, nullptr);
  EXPECT_EQ(pods->scope, podpath::net::kScopeLink);
  EXPECT_EQ(pods->protocol, podpath::net::kProtoKernel);
  ASSERT_TRUE(pods->prefsrc);
  EXPECT_EQ(pods->prefsrc->to_string(), "10.10.129.1");

  const auto v4 = podpath::net::read_routes(a_, podpath::net::kTableMain, podpath::net::Family::Ipv4);
  ASSERT_TRUE(v4);
  for (const auto& r : v4->routes()) EXPECT_TRUE(r.dst.is_v4()) << r.to_string();
  const auto local = podpath::net::read_routes(a_, podpath::net::kTableLocal, podpath::net::Family::Ipv4);
  ASSERT_TRUE(local);
  const auto* mine = local->lookup(*podpath::model::IpAddress::parse("10.0.0.2"));
  ASSERT_NE(mine, nullptr);
  EXPECT_EQ(mine->type, podpath::net::kTypeLocal);
}

TEST_F(NetlinkTest, ReadsNeighboursAndTheBridgeFdb) {
  const auto n = podpath::net::read_neighbours(a_);
  ASSERT_TRUE(n) << n.error().to_string();
  bool found = false;
  for (const auto& e : n->neighbours) {
    if (e.ip.to_string() != "10.0.0.1") continue;
    found = true;
    EXPECT_EQ(e.mac, "02:00:0a:00:00:01");
    EXPECT_EQ(e.dev, "eth0");
    EXPECT_EQ(e.state_name, "permanent");
    EXPECT_FALSE(e.failed());
  }
  EXPECT_TRUE(found);
  const auto links = podpath::net::list_links(a_);
  ASSERT_TRUE(links);
  const Link* veth = podpath::net::find_link(*links, "veth3a9c1f02");
  bool own_mac = false;
  for (const auto& f : n->fdb) {
    if (f.port_ifindex == veth->ifindex && f.mac == veth->mac && f.local) own_mac = true;
  }
  EXPECT_TRUE(own_mac);
}

TEST_F(NetlinkTest, MissingNamespaceIsAnError) {
  const auto r = podpath::net::read_routes("pptest-does-not-exist");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
}

TEST_F(NetlinkTest, LinkMonitorSeesAVethWithinOneSecond) {
  std::vector<LinkEvent> events;
  podpath::net::LinkMonitor monitor([&](const LinkEvent& e) { events.push_back(e); });
  ASSERT_TRUE(monitor.watch(a_));
  ASSERT_TRUE(monitor.watch(b_, false));
  EXPECT_FALSE(monitor.watch(b_));  // twice is an error
  EXPECT_EQ(monitor.watched().size(), 2u);
  std::size_t existing = 0;
  for (const auto& e : events) existing += e.type == LinkEventType::Added && e.netns == a_;
  EXPECT_EQ(existing, podpath::net::list_links(a_)->size());
  EXPECT_EQ(monitor.fds().size(), 2u);
  events.clear();

  using Clock = std::chrono::steady_clock;
  auto wait_for = [&](auto pred) {
    const auto deadline = Clock::now() + std::chrono::seconds(1);
    while (Clock::now() < deadline) {
      for (const auto& e : events) {
        if (pred(e)) return true;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      const auto polled = monitor.poll(std::max(left, std::chrono::milliseconds(1)));
      EXPECT_TRUE(polled) << polled.error().to_string();
    }
    for (const auto& e : events) {
      if (pred(e)) return true;
    }
    return false;
  };

  // Trigger: a new pod veth in b (the other namespace stays quiet).
  const auto created = Clock::now();
  ASSERT_EQ(sh("ip -n " + b_ + " link add vnew0 type veth peer name vnew1"), 0);
  EXPECT_TRUE(wait_for([&](const LinkEvent& e) {
    return e.netns == b_ && e.type == LinkEventType::Added && e.link.name == "vnew0" && e.link.kind == "veth";
  }));
  EXPECT_LT(Clock::now() - created, std::chrono::seconds(1));
  for (const auto& e : events) EXPECT_EQ(e.netns, b_) << e.link.name;

  ASSERT_EQ(sh("ip -n " + b_ + " link set vnew0 up"), 0);
  EXPECT_TRUE(wait_for([&](const LinkEvent& e) {
    return e.type == LinkEventType::Changed && e.link.name == "vnew0" && e.link.is_up();
  }));

  ASSERT_EQ(sh("ip -n " + b_ + " link del vnew0"), 0);
  EXPECT_TRUE(wait_for(
      [&](const LinkEvent& e) { return e.type == LinkEventType::Removed && e.link.name == "vnew0"; }));
  EXPECT_TRUE(wait_for(
      [&](const LinkEvent& e) { return e.type == LinkEventType::Removed && e.link.name == "vnew1"; }));

  // Recreated under the same name: a new ifindex, reported as Added again.
  events.clear();
  ASSERT_EQ(sh("ip -n " + b_ + " link add vnew0 type veth peer name vnew2"), 0);
  EXPECT_TRUE(
      wait_for([&](const LinkEvent& e) { return e.type == LinkEventType::Added && e.link.name == "vnew0"; }));

  monitor.unwatch(b_);
  EXPECT_EQ(monitor.watched().size(), 1u);
  events.clear();
  ASSERT_EQ(sh("ip -n " + b_ + " link add vgone type veth peer name vgone1"), 0);
  const auto quiet = monitor.poll(std::chrono::milliseconds(200));
  ASSERT_TRUE(quiet);
  EXPECT_EQ(*quiet, 0);
  EXPECT_TRUE(events.empty());
}

TEST_F(NetlinkTest, LocalDiscoveryOfTheSeedNode) {
  podpath::inventory::LocalDiscoveryOptions o;
  o.netns = a_;
  o.ipam_dir = "/nonexistent";
  const auto found = podpath::inventory::discover_local(o);
  ASSERT_TRUE(found) << found.error().to_string();
  const auto& node = found->cluster.nodes.at(0);
  EXPECT_EQ(node.name, a_);
  EXPECT_EQ(node.pod_cidr.to_string(), "10.10.129.0/24");
  EXPECT_EQ(node.interfaces.bridge, "cbr0");
  EXPECT_EQ(node.interfaces.uplink, "eth0");
  EXPECT_EQ(node.interfaces.docker, "docker0");
  EXPECT_EQ(node.underlay_ip.to_string(), "10.0.0.2");
  ASSERT_TRUE(found->cluster.gateway);
  EXPECT_EQ(found->cluster.gateway->ip.to_string(), "10.0.0.1");
  EXPECT_EQ(found->pod_veths, std::vector<std::string>{"veth3a9c1f02"});
}

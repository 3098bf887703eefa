#pragma once
// The path composer's fixture: the seed's lab (two nodes, a gateway, routes from the seed),
// a second pod on node1 and the interfaces podpath watches. Shared by path_test.cpp (the
// composer) and path_output_test.cpp (its JSON and table output).
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <filesystem>
#include <initializer_list>
#include <string>

#include "flows/aggregator.hpp"
#include "flows/path.hpp"
#include "inventory/cidrs.hpp"
#include "inventory/lab_inventory.hpp"
#include "inventory/resolver.hpp"

using podpath::flows::Flow;
using podpath::flows::HopDirection;
using podpath::flows::HopState;
using podpath::flows::Path;
using podpath::flows::PathGateway;
using podpath::flows::PathNode;
using podpath::flows::PointStats;
using podpath::flows::Topology;
using podpath::model::Cidr;
using podpath::model::Direction;
using podpath::model::FlowKey;
using podpath::model::InterfaceRole;
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
    const podpath::inventory::Resolver resolver(std::make_shared<const podpath::model::Cluster>(cluster_),
                                                cidrs_);
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

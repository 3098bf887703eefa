#pragma once
// Shared by the check_* unit tests: the fixture lab (tests/unit/data/lab_inventory.json:
// node1 with web, node2 with db-0, a gateway), its routes and watched interfaces, and
// builders for probe keys, flow records and drop events.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <filesystem>
#include <string>
#include <vector>

#include "bpf/drops.hpp"
#include "check/evidence.hpp"
#include "flows/path.hpp"
#include "inventory/cidrs.hpp"
#include "inventory/lab_inventory.hpp"
#include "inventory/resolver.hpp"

namespace podpath::testing {

inline model::IpAddress ip(const char* text) { return *model::IpAddress::parse(text); }

inline net::Route route(const std::string& dst, const char* via, const char* dev, std::uint32_t metric = 0) {
  net::Route r;
  r.dst = *model::Cidr::parse(dst);
  if (via != nullptr) r.gateway = ip(via);
  r.dev = dev;
  r.metric = metric;
  return r;
}

inline net::RouteTable seed_table(int i) {
  net::RouteTable t;
  t.add(route("0.0.0.0/0", "10.0.0.1", "eth0", 100));
  t.add(route("10.0.0.0/24", nullptr, "eth0"));
  t.add(route("10.10." + std::to_string(128 + i) + ".0/24", nullptr, "cbr0"));
  return t;
}

constexpr std::uint64_t kNode1 = 1001, kNode2 = 1002, kGateway = 1000, kWebNs = 2001, kDbNs = 2002;
constexpr std::uint32_t kEth0 = 2, kCbr0 = 4, kVeth = 6;

class CheckFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = inventory::read_lab_inventory(std::filesystem::path(PODPATH_TEST_DATA) / "lab_inventory.json");
    ASSERT_TRUE(c) << c.error().to_string();
    cluster_ = *c;
    auto cidrs = inventory::CidrTable::build(cluster_);
    ASSERT_TRUE(cidrs);
    cidrs_ = *cidrs;
    resolver_ =
        std::make_unique<inventory::Resolver>(std::make_shared<const model::Cluster>(cluster_), cidrs_);
    for (int i = 1; i <= 2; ++i)
      topo_.nodes.push_back(flows::PathNode::from(cluster_.nodes[i - 1], seed_table(i)));
    topo_.gateway = flows::PathGateway::from(*cluster_.gateway, cluster_.underlay);
    using model::InterfaceRole;
    topo_.interfaces[{kNode1, kEth0}] = {"node1", "eth0", InterfaceRole::Uplink, ""};
    topo_.interfaces[{kNode1, kCbr0}] = {"node1", "cbr0", InterfaceRole::Bridge, ""};
    topo_.interfaces[{kNode1, kVeth}] = {"node1", "veth3a9c1f02", InterfaceRole::PodVeth,
                                         "default/web-7d4b9-x2k4q"};
    topo_.interfaces[{kNode2, kEth0}] = {"node2", "eth0", InterfaceRole::Uplink, ""};
    topo_.interfaces[{kNode2, kCbr0}] = {"node2", "cbr0", InterfaceRole::Bridge, ""};
    topo_.interfaces[{kNode2, kVeth}] = {"node2", "vethb61703ca", InterfaceRole::PodVeth, "default/db-0"};
  }

  [[nodiscard]] flows::Endpoint web() const { return resolver_->resolve(ip("10.10.129.2")); }
  [[nodiscard]] flows::Endpoint db() const { return resolver_->resolve(ip("10.10.130.2")); }

  /// Probe i's ICMP echo request key (id 4660 + i).
  static model::FlowKey echo(int i, const char* src = "10.10.129.2", const char* dst = "10.10.130.2") {
    model::FlowKey k;
    k.src = ip(src);
    k.dst = ip(dst);
    k.proto = IPPROTO_ICMP;
    k.sport = static_cast<std::uint16_t>(4660 + i);
    k.dport = 8 << 8;
    return k;
  }

  static model::FlowRecord record(const model::FlowKey& key, std::uint64_t cookie, std::uint32_t ifindex,
                                  model::Direction dir, std::uint64_t first_seen_ns,
                                  std::uint64_t packets = 1) {
    model::FlowRecord r;
    r.key = key;
    r.point = {cookie, ifindex, dir};
    r.stats.packets = packets;
    r.stats.bytes = packets * 98;
    r.stats.first_seen_ns = first_seen_ns;
    r.stats.last_seen_ns = first_seen_ns;
    return r;
  }

  /// The request's points node1 veth -> cbr0 -> eth0 (-> node2 eth0 -> cbr0 -> veth when
  /// `arrives`), probe i starting at i ms, 10 us per hop.
  static std::vector<model::FlowRecord> request_records(int probes, bool arrives) {
    using model::Direction;
    std::vector<model::FlowRecord> out;
    for (int i = 0; i < probes; ++i) {
      const auto k = echo(i);
      const std::uint64_t t = 1'000'000ULL * static_cast<std::uint64_t>(i + 1);
      out.push_back(record(k, kNode1, kVeth, Direction::Ingress, t));
      out.push_back(record(k, kNode1, kCbr0, Direction::Ingress, t + 10'000));
      out.push_back(record(k, kNode1, kEth0, Direction::Egress, t + 20'000));
      if (!arrives) continue;
      out.push_back(record(k, kNode2, kEth0, Direction::Ingress, t + 50'000));
      out.push_back(record(k, kNode2, kCbr0, Direction::Egress, t + 60'000));
      out.push_back(record(k, kNode2, kVeth, Direction::Egress, t + 70'000));
    }
    return out;
  }

  static bpf::DropEvent drop_event(const model::FlowKey& key, std::uint64_t cookie, const char* reason,
                                   std::uint64_t location, const char* ifname, std::uint64_t ts = 1) {
    bpf::DropEvent e;
    e.key = key;
    e.netns_cookie = cookie;
    e.has_reason = reason != nullptr;
    e.reason_name = reason != nullptr ? reason : "";
    e.location = location;
    e.ifname = ifname;
    e.ts_ns = ts;
    e.ip_len = 84;
    e.ttl = 61;
    return e;
  }

  static check::Place place_of(std::uint64_t cookie) {
    using check::PlaceKind;
    switch (cookie) {
    case kNode1:
      return {PlaceKind::Node, "node1", ""};
    case kNode2:
      return {PlaceKind::Node, "node2", ""};
    case kGateway:
      return {PlaceKind::Gateway, "gateway", ""};
    case kWebNs:
      return {PlaceKind::Pod, "default/web-7d4b9-x2k4q", "node1"};
    case kDbNs:
      return {PlaceKind::Pod, "default/db-0", "node2"};
    default:
      return {PlaceKind::Unknown, "netns " + std::to_string(cookie), ""};
    }
  }

  model::Cluster cluster_;
  inventory::CidrTable cidrs_;
  std::unique_ptr<inventory::Resolver> resolver_;
  flows::Topology topo_;
};

}  // namespace podpath::testing

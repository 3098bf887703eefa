// The CIDR table (ids for the BPF LPM trie) and address resolution, on the lab fixture.
#include <gtest/gtest.h>

#include <filesystem>

#include "inventory/cidrs.hpp"
#include "inventory/lab_inventory.hpp"
#include "inventory/resolver.hpp"

using podpath::inventory::CidrKind;
using podpath::inventory::CidrOptions;
using podpath::inventory::CidrTable;
using podpath::inventory::EndpointKind;
using podpath::inventory::Resolver;
using podpath::model::Cidr;
using podpath::model::IpAddress;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

podpath::model::Cluster fixture() {
  auto c =
      podpath::inventory::read_lab_inventory(std::filesystem::path(PODPATH_TEST_DATA) / "lab_inventory.json");
  EXPECT_TRUE(c) << c.error().to_string();
  return *c;
}

CidrOptions with_docker(const podpath::model::Cluster& c) {
  CidrOptions o;
  for (const auto& n : c.nodes) o.docker.emplace_back(n.name, *Cidr::parse("172.17.0.0/24"));
  return o;
}

}  // namespace

TEST(CidrTable, AssignsIdsInOrderWithLabels) {
  const auto cluster = fixture();
  const auto t = CidrTable::build(cluster, with_docker(cluster));
  ASSERT_TRUE(t) << t.error().to_string();
  ASSERT_EQ(t->entries().size(), 5u);
  EXPECT_EQ(t->entries()[0].id, 1);
  EXPECT_EQ(t->entries()[0].label, "node1 pods");
  EXPECT_EQ(t->entries()[0].node, "node1");
  EXPECT_TRUE(t->entries()[0].counted_at_source());
  EXPECT_EQ(t->entries()[1].label, "node2 pods");
  EXPECT_EQ(t->entries()[2].label, "underlay");
  EXPECT_EQ(t->entries()[2].kind, CidrKind::Underlay);
  EXPECT_FALSE(t->entries()[2].counted_at_source());
  EXPECT_EQ(t->entries()[3].label, "services");
  EXPECT_EQ(t->entries()[3].cidr.to_string(), "10.96.0.0/12");
  // docker0 is the same network on every node: one shared entry, no owner.
  EXPECT_EQ(t->entries()[4].label, "docker0 (every node)");
  EXPECT_EQ(t->entries()[4].node, "");
  EXPECT_EQ(t->by_id(5)->kind, CidrKind::Docker);
  EXPECT_EQ(t->by_id(0), nullptr);
  EXPECT_EQ(t->by_id(6), nullptr);
  EXPECT_EQ(t->label(0), "other");
  EXPECT_EQ(t->label(2), "node2 pods");
}

TEST(CidrTable, DockerOnOneNodeIsOwnedByIt) {
  const auto cluster = fixture();
  CidrOptions o;
  o.docker.emplace_back("node1", *Cidr::parse("172.17.0.0/16"));
  o.service_cidr.reset();
  const auto t = CidrTable::build(cluster, o);
  ASSERT_TRUE(t);
  const auto* d = t->lookup(ip("172.17.3.4"));
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->label, "docker0 node1");
  EXPECT_EQ(d->node, "node1");
  EXPECT_EQ(t->lookup(ip("10.96.0.10")), nullptr);
}

TEST(CidrTable, LookupIsLongestPrefix) {
  CidrTable t;
  ASSERT_TRUE(t.add(*Cidr::parse("10.0.0.0/8"), "wide", CidrKind::Other));
  ASSERT_TRUE(t.add(*Cidr::parse("10.10.129.0/24"), "node1 pods", CidrKind::PodCidr, "node1"));
  ASSERT_TRUE(t.add(*Cidr::parse("fd00::/64"), "v6", CidrKind::Other));
  EXPECT_EQ(t.lookup(ip("10.10.129.9"))->label, "node1 pods");
  EXPECT_EQ(t.lookup(ip("10.10.130.9"))->label, "wide");
  EXPECT_EQ(t.lookup(ip("fd00::5"))->label, "v6");
  EXPECT_EQ(t.lookup(ip("192.168.0.1")), nullptr);
}

TEST(CidrTable, RejectsDuplicatesAndMoreThan63) {
  CidrTable t;
  ASSERT_TRUE(t.add(*Cidr::parse("10.0.0.0/24"), "a", CidrKind::Other));
  const auto dup = t.add(*Cidr::parse("10.0.0.0/24"), "b", CidrKind::Other);
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("already classified as a"), std::string::npos) << dup.error().message;
  for (int i = 1; i < 63; ++i) {
    ASSERT_TRUE(t.add(*Cidr::parse("10.1." + std::to_string(i) + ".0/24"), "n", CidrKind::Other)) << i;
  }
  EXPECT_EQ(t.entries().back().id, 63);
  const auto full = t.add(*Cidr::parse("10.2.0.0/24"), "one too many", CidrKind::Other);
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find("at most 63"), std::string::npos) << full.error().message;
}

TEST(Resolver, ResolvesEveryKindWithItsCidr) {
  const auto cluster = fixture();
  const auto cidrs = CidrTable::build(cluster, with_docker(cluster));
  ASSERT_TRUE(cidrs);
  const Resolver r(std::make_shared<const podpath::model::Cluster>(cluster), *cidrs);

  const auto web = r.resolve(ip("10.10.129.2"));
  EXPECT_EQ(web.kind, EndpointKind::Pod);
  EXPECT_EQ(web.name, "default/web-7d4b9-x2k4q");
  EXPECT_EQ(web.node, "node1");
  ASSERT_NE(web.pod, nullptr);
  EXPECT_EQ(web.veth(), "veth3a9c1f02");
  EXPECT_EQ(web.cidr, "node1 pods");
  EXPECT_EQ(web.cidr_id, 1);

  const auto stranger = r.resolve(ip("10.10.130.77"));
  EXPECT_EQ(stranger.kind, EndpointKind::Pod);
  EXPECT_EQ(stranger.pod, nullptr);
  EXPECT_EQ(stranger.name, "unknown pod");
  EXPECT_EQ(stranger.node, "node2");

  const auto node2 = r.resolve(ip("10.0.0.3"));
  EXPECT_EQ(node2.kind, EndpointKind::Node);
  EXPECT_EQ(node2.name, "node2");
  EXPECT_EQ(node2.cidr, "underlay");
  EXPECT_EQ(r.resolve(ip("10.10.129.1")).name, "node1");  // the bridge address is the node

  const auto gw = r.resolve(ip("10.0.0.1"));
  EXPECT_EQ(gw.kind, EndpointKind::Gateway);
  EXPECT_EQ(gw.name, "gateway");

  const auto svc = r.resolve(ip("10.96.0.10"));
  EXPECT_EQ(svc.kind, EndpointKind::Service);
  EXPECT_EQ(svc.cidr, "services");

  const auto ext = r.resolve(ip("8.8.8.8"));
  EXPECT_EQ(ext.kind, EndpointKind::External);
  EXPECT_EQ(ext.name, "8.8.8.8");
  EXPECT_EQ(ext.cidr, "other");
  EXPECT_EQ(ext.cidr_id, 0);
  EXPECT_EQ(r.resolve(ip("172.17.0.2")).cidr, "docker0 (every node)");
  EXPECT_STREQ(podpath::flows::to_string(EndpointKind::External), "external");
}

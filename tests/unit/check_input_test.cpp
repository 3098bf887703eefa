// What `podpath check` accepts before it attaches anything (issue 15 item 18), and the
// cluster snapshot a check's endpoints keep alive (item 11).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "check/checker.hpp"
#include "check_fixture.hpp"
#include "inventory/resolver.hpp"

using podpath::check::check_probe_addresses;
using podpath::testing::ip;

namespace {

std::string refusal(const char* src, const char* dst) {
  const auto r = check_probe_addresses(ip(src), ip(dst));
  return r ? std::string() : r.error().message;
}

}  // namespace

TEST(CheckInput, UnicastDestinationsOfTheSameFamilyAreAccepted) {
  EXPECT_EQ(refusal("10.10.129.2", "10.10.130.2"), "");
  EXPECT_EQ(refusal("10.10.129.2", "8.8.8.8"), "");
  EXPECT_EQ(refusal("fd00::2", "fd00::3"), "");
}

TEST(CheckInput, DestinationsThatCannotBeCheckedAreRefusedWithAReason) {
  EXPECT_NE(refusal("10.10.129.2", "0.0.0.0").find("cannot check 0.0.0.0: it is the unspecified address"),
            std::string::npos);
  EXPECT_NE(refusal("10.10.129.2", "127.0.0.1").find("it is a loopback address; a probe to it never leaves"),
            std::string::npos);
  EXPECT_NE(refusal("10.10.129.2", "127.1.2.3").find("loopback"), std::string::npos);
  EXPECT_NE(refusal("10.10.129.2", "224.0.0.251").find("it is a multicast address"), std::string::npos);
  EXPECT_NE(refusal("10.10.129.2", "239.255.255.250").find("multicast"), std::string::npos);
  EXPECT_NE(refusal("10.10.129.2", "255.255.255.255").find("the broadcast address"), std::string::npos);
  EXPECT_NE(refusal("fd00::2", "::1").find("loopback"), std::string::npos);
  EXPECT_NE(refusal("fd00::2", "::").find("unspecified"), std::string::npos);
  EXPECT_NE(refusal("fd00::2", "ff02::1").find("multicast"), std::string::npos);
  EXPECT_NE(
      refusal("10.10.129.2", "::1").find("cannot check ::1 from 10.10.129.2: one is IPv6 and the other IPv4"),
      std::string::npos)
      << refusal("10.10.129.2", "::1");
  EXPECT_NE(refusal("10.10.129.2", "10.10.129.2").find("the same address"), std::string::npos);
}

TEST(ClusterSnapshot, AResolvedPodOutlivesAReload) {
  // A check resolves its endpoints, then refreshes while its probes run; the lab rewrites the
  // inventory when pods come and go, and a reload used to free the pod an endpoint pointed to.
  auto cluster =
      podpath::inventory::read_lab_inventory(std::string(PODPATH_TEST_DATA) + "/lab_inventory.json");
  ASSERT_TRUE(cluster);
  auto snapshot = std::make_shared<const podpath::model::Cluster>(std::move(*cluster));
  auto cidrs = podpath::inventory::CidrTable::build(*snapshot);
  ASSERT_TRUE(cidrs);
  auto resolver = std::make_unique<podpath::inventory::Resolver>(snapshot, *cidrs);
  const auto endpoint = resolver->resolve(ip("10.10.129.2"));
  ASSERT_TRUE(endpoint.pod);
  const std::weak_ptr<const podpath::model::Cluster> old = snapshot;
  snapshot = std::make_shared<const podpath::model::Cluster>();  // the session reloads
  resolver.reset();
  EXPECT_FALSE(old.expired()) << "the endpoint keeps its snapshot alive";
  EXPECT_EQ(endpoint.pod->name, "web-7d4b9-x2k4q");
  EXPECT_EQ(endpoint.pod->containers.size(), 2u);
}

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../common/temp_dir.hpp"
#include "inventory/lab_inventory.hpp"

namespace fs = std::filesystem;
using podpath::inventory::find_lab_inventory;
using podpath::inventory::parse_lab_inventory;
using podpath::inventory::read_lab_inventory;
using podpath::inventory::to_lab_inventory_json;
using podpath::inventory::write_lab_inventory;
using podpath::testing::TempDir;

namespace {

const fs::path kFixture = fs::path(PODPATH_TEST_DATA) / "lab_inventory.json";

std::string mutate(const std::string& text, const std::string& from, const std::string& to) {
  std::string out = text;
  const auto pos = out.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  out.replace(pos, from.size(), to);
  return out;
}

std::string fixture_text() {
  std::ifstream in(kFixture);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST(LabInventory, ReadsEveryFieldOfTheFixture) {
  const auto c = read_lab_inventory(kFixture);
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->lab, "pp");
  ASSERT_TRUE(c->underlay);
  EXPECT_EQ(c->underlay->to_string(), "10.0.0.0/24");
  ASSERT_TRUE(c->gateway);
  EXPECT_EQ(c->gateway->netns, "pp-gw");
  ASSERT_EQ(c->gateway->routes.size(), 2u);
  EXPECT_EQ(c->gateway->routes[1].dst.to_string(), "10.10.130.0/24");
  EXPECT_EQ(c->gateway->routes[1].via.to_string(), "10.0.0.3");
  ASSERT_EQ(c->nodes.size(), 2u);
  EXPECT_EQ(c->nodes[0].pod_cidr.to_string(), "10.10.129.0/24");
  EXPECT_EQ(c->nodes[1].interfaces.docker, "docker0");
  ASSERT_EQ(c->pods.size(), 2u);
  const auto* web = c->find_pod("default/web-7d4b9-x2k4q");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web, c->find_pod("web-7d4b9-x2k4q"));
  EXPECT_EQ(web->veth, "veth3a9c1f02");
  ASSERT_EQ(web->containers.size(), 2u);
  EXPECT_EQ(web->containers[1].name, "sidecar");
  EXPECT_EQ(web->containers[1].cgroup_id, 12346u);
  EXPECT_EQ(web->containers[1].pid, 4243);
  EXPECT_EQ(c->find_pod_by_ip(*podpath::model::IpAddress::parse("10.10.130.2"))->name, "db-0");
}

TEST(LabInventory, WriteThenReadRoundTrips) {
  const auto original = read_lab_inventory(kFixture);
  ASSERT_TRUE(original);
  TempDir dir;
  const fs::path file = dir.path() / "inventory.json";
  const auto written = write_lab_inventory(file, *original);
  ASSERT_TRUE(written) << written.error().to_string();
  EXPECT_FALSE(fs::exists(file.string() + ".tmp"));
  const auto again = read_lab_inventory(file);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_EQ(*again, *original);
  EXPECT_EQ(to_lab_inventory_json(*again), to_lab_inventory_json(*original));
}

TEST(LabInventory, ErrorsNameTheField) {
  const std::string good = fixture_text();
  struct Case {
    std::string from, to, expected;
  };
  const Case cases[] = {
      {"\"version\": 1", "\"version\": 2", ".version is 2"},
      {"\"ip\": \"10.10.129.2\"", "\"ip\": \"10.10.129.300\"", ".pods[0].ip is not an IP address"},
      {"\"pod_cidr\": \"10.10.130.0/24\"", "\"pod_cidr\": \"10.10.130.0\"",
       ".nodes[1].pod_cidr is not a CIDR"},
      {"\"node\": \"node2\"", "\"node\": \"node9\"", ".pods[1].node names unknown node 'node9'"},
      {"\"cgroup_id\": 12345", "\"cgroup_id\": -1",
       ".pods[0].containers[0].cgroup_id must be a non-negative"},
      {"\"lab\": \"pp\",", "", ".lab is missing"},
  };
  for (const auto& tc : cases) {
    const auto r = parse_lab_inventory(mutate(good, tc.from, tc.to));
    ASSERT_FALSE(r) << tc.expected;
    EXPECT_NE(r.error().message.find(tc.expected), std::string::npos) << r.error().message;
  }
  // Found by tests/fuzz/inventory_fuzz: a number too large for a double threw out of the reader.
  const auto overflow =
      parse_lab_inventory("[\n 0.1111111111111111111111111111111497554224488149456e9111er\"i");
  ASSERT_FALSE(overflow);
  EXPECT_NE(overflow.error().message.find("not valid JSON"), std::string::npos) << overflow.error().message;
  const auto garbage = parse_lab_inventory("{\"version\": ");
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message.find("not valid JSON"), std::string::npos);
}

TEST(LabInventory, MissingFileIsAnErrorWithErrno) {
  const auto r = read_lab_inventory("/nonexistent/inventory.json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
}

TEST(LabInventory, FindsTheOnlyLabOrAsksToChoose) {
  TempDir dir;
  EXPECT_FALSE(find_lab_inventory(std::nullopt, dir.path()));
  fs::create_directories(dir.path() / "pp");
  fs::copy_file(kFixture, dir.path() / "pp" / "inventory.json");
  const auto only = find_lab_inventory(std::nullopt, dir.path());
  ASSERT_TRUE(only) << only.error().to_string();
  EXPECT_EQ(*only, dir.path() / "pp" / "inventory.json");
  fs::create_directories(dir.path() / "qq");
  fs::copy_file(kFixture, dir.path() / "qq" / "inventory.json");
  const auto two = find_lab_inventory(std::nullopt, dir.path());
  ASSERT_FALSE(two);
  EXPECT_NE(two.error().message.find("several labs are up (pp, qq)"), std::string::npos)
      << two.error().message;
  const auto chosen = find_lab_inventory(std::string("qq"), dir.path());
  ASSERT_TRUE(chosen);
  const auto missing = find_lab_inventory(std::string("zz"), dir.path());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no lab named 'zz'"), std::string::npos);
}

// Issue 15 items 13, 16 and 17: every string of an inventory is validated before podpath
// enters a namespace or attaches to an interface it names; the file itself is bounded.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../common/temp_dir.hpp"
#include "inventory/lab_inventory.hpp"
#include "inventory/validate.hpp"

namespace fs = std::filesystem;
using podpath::inventory::find_lab_inventory;
using podpath::inventory::is_interface_name;
using podpath::inventory::is_lab_name;
using podpath::inventory::is_netns_reference;
using podpath::inventory::is_object_name;
using podpath::inventory::parse_lab_inventory;
using podpath::inventory::read_lab_inventory;
using podpath::testing::TempDir;

namespace {

const fs::path kFixture = fs::path(PODPATH_TEST_DATA) / "lab_inventory.json";

std::string fixture_text() {
  std::ifstream in(kFixture);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string mutate(const std::string& from, const std::string& to) {
  std::string out = fixture_text();
  const auto pos = out.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) out.replace(pos, from.size(), to);
  return out;
}

/// The error of parsing the fixture with one change; empty when it parsed.
std::string error_after(const std::string& from, const std::string& to) {
  const auto r = parse_lab_inventory(mutate(from, to));
  return r ? std::string() : r.error().message;
}

}  // namespace

TEST(InventoryValidation, TheFixtureIsValid) {
  const auto r = parse_lab_inventory(fixture_text());
  ASSERT_TRUE(r) << r.error().to_string();
}

TEST(InventoryValidation, AnEmptyOrProcNetnsIsRefusedNotTheHostsNamespace) {
  // "netns": "" used to make podpath attach to the host's own eth0.
  auto e = error_after("\"netns\": \"pp-node1\"", "\"netns\": \"\"");
  EXPECT_NE(e.find(".nodes[0].netns is empty"), std::string::npos) << e;
  e = error_after("\"netns\": \"pp-node1\"", "\"netns\": \"/proc/self/ns/net\"");
  EXPECT_NE(e.find(".nodes[0].netns '/proc/self/ns/net' is a /proc path"), std::string::npos) << e;
  e = error_after("\"netns\": \"pp-gw\"", "\"netns\": \"../../etc\"");
  EXPECT_NE(e.find(".gateway.netns"), std::string::npos) << e;
  e = error_after("\"netns\": \"pp-node2\"", "\"netns\": \"/run/netns/../../etc/x\"");
  EXPECT_NE(e.find(".nodes[1].netns"), std::string::npos) << e;
  EXPECT_TRUE(error_after("\"netns\": \"pp-node2\"", "\"netns\": \"/run/netns/pp-node2\"").empty());
}

TEST(InventoryValidation, NamesWithControlCharactersAreRefused) {
  auto e = error_after("\"name\": \"db-0\"", "\"name\": \"db\\u001b[2J\"");
  EXPECT_NE(e.find(".pods[1].name 'db\\x1b[2J' is not a valid name"), std::string::npos) << e;
  EXPECT_EQ(e.find('\x1b'), std::string::npos) << "the message itself must be printable";
  e = error_after("\"veth\": \"vethb61703ca\"", "\"veth\": \"veth\\u001b]0;x\\u0007\"");
  EXPECT_NE(e.find(".pods[1].veth"), std::string::npos) << e;
  e = error_after("\"uplink\": \"eth0\"", "\"uplink\": \"an-interface-name-too-long\"");
  EXPECT_NE(e.find(".nodes[0].interfaces.uplink"), std::string::npos) << e;
  e = error_after("\"uplink\": \"eth0\"", "\"uplink\": \"\"");
  EXPECT_NE(e.find(".nodes[0].interfaces.uplink"), std::string::npos) << e;
  e = error_after("\"cgroup_root\": \"/sys/fs/cgroup/unified/podpath-lab.pp\"",
                  "\"cgroup_root\": \"/sys/../etc\"");
  EXPECT_NE(e.find(".cgroup_root"), std::string::npos) << e;
}

TEST(InventoryValidation, DuplicatesAreRefused) {
  auto e = error_after("\"ip\": \"10.10.130.2\"", "\"ip\": \"10.10.129.2\"");
  EXPECT_NE(e.find(".pods[1].ip repeats the address '10.10.129.2' of .pods[0].ip"), std::string::npos) << e;
  e = error_after("\"name\": \"db-0\"", "\"name\": \"web-7d4b9-x2k4q\"");
  EXPECT_NE(e.find("repeats the pod"), std::string::npos) << e;
  e = error_after("\"netns\": \"pp-node2\"", "\"netns\": \"pp-node1\"");
  EXPECT_NE(e.find(".nodes[1].netns repeats the network namespace"), std::string::npos) << e;
  e = error_after("\"underlay_ip\": \"10.0.0.3\"", "\"underlay_ip\": \"10.0.0.1\"");
  EXPECT_NE(e.find("repeats the address '10.0.0.1' of .gateway.ip"), std::string::npos) << e;
}

TEST(InventoryValidation, NameRules) {
  EXPECT_TRUE(is_interface_name("eth0"));
  EXPECT_TRUE(is_interface_name("veth3a9c1f02"));
  EXPECT_FALSE(is_interface_name(""));
  EXPECT_FALSE(is_interface_name(".."));
  EXPECT_FALSE(is_interface_name("eth0/x"));
  EXPECT_FALSE(is_interface_name("sixteen-chars-xx"));
  EXPECT_TRUE(is_netns_reference("pp-node1"));
  EXPECT_TRUE(is_netns_reference("/var/run/netns/pp-node1"));
  EXPECT_FALSE(is_netns_reference(""));
  EXPECT_FALSE(is_netns_reference("/proc/1/ns/net"));
  EXPECT_FALSE(is_netns_reference("/tmp/ns"));
  EXPECT_TRUE(is_object_name("web-1"));
  EXPECT_TRUE(is_object_name("café"));
  EXPECT_FALSE(is_object_name("a/b"));
  EXPECT_FALSE(is_object_name("a\tb"));
}

TEST(InventoryValidation, IntegersOutOfRangeAreRefusedNotTruncated) {
  // nlohmann's get<int>() read 4294967297 as 1.
  auto e = error_after("\"version\": 1", "\"version\": 4294967297");
  EXPECT_NE(e.find(".version must be a non-negative integer no larger than 2147483647"), std::string::npos)
      << e;
  e = error_after("\"pid\": 4242", "\"pid\": 4294967297");
  EXPECT_NE(e.find(".pods[0].containers[0].pid must be a non-negative integer"), std::string::npos) << e;
}

TEST(InventoryFile, RefusesDevicesFifosAndHugeFiles) {
  // `pods --inventory /dev/zero` grew to 6.6 GB.
  const auto zero = read_lab_inventory("/dev/zero");
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message.find("/dev/zero: it is a character device"), std::string::npos)
      << zero.error().message;
  TempDir d;
  const fs::path fifo = d.path() / "inventory.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto f = read_lab_inventory(fifo);
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("a FIFO"), std::string::npos);
  const fs::path big = d.path() / "big.json";
  {
    std::ofstream out(big);
    out << std::string(podpath::inventory::kMaxInventoryBytes + 1, ' ');
  }
  const auto b = read_lab_inventory(big);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("larger than"), std::string::npos) << b.error().message;
}

TEST(LabName, LabMustBeANameNotAPath) {
  EXPECT_TRUE(is_lab_name("pp"));
  EXPECT_TRUE(is_lab_name("lab2"));
  EXPECT_TRUE(is_lab_name("podpath-test_lab"));
  EXPECT_FALSE(is_lab_name("../../etc"));
  EXPECT_FALSE(is_lab_name("a/b"));
  EXPECT_FALSE(is_lab_name(""));
  EXPECT_FALSE(is_lab_name("-lab"));
  EXPECT_FALSE(is_lab_name(".."));
  EXPECT_FALSE(is_lab_name(std::string(65, 'a')));
  TempDir d;
  fs::create_directories(d.path() / "etc");
  fs::copy_file(kFixture, d.path() / "etc" / "inventory.json");
  fs::create_directories(d.path() / "state");
  // --lab ../etc must not read <state>/../etc/inventory.json
  const auto r = find_lab_inventory(std::string("../etc"), d.path() / "state");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("--lab takes a lab's name"), std::string::npos) << r.error().message;
}

// Where a command's cluster comes from: file, named lab, the only lab up, local discovery.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "inventory/source.hpp"

namespace fs = std::filesystem;
using podpath::inventory::ClusterOrigin;
using podpath::inventory::ClusterSourceOptions;
using podpath::inventory::load_cluster;

namespace {

const fs::path kFixture = fs::path(PODPATH_TEST_DATA) / "lab_inventory.json";

class StateDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "podpath-source-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  void TearDown() override { fs::remove_all(dir_); }
  void add_lab(const std::string& name) {
    fs::create_directories(dir_ / name);
    fs::copy_file(kFixture, dir_ / name / "inventory.json");
  }
  ClusterSourceOptions options() const {
    ClusterSourceOptions o;
    o.lab_state_dir = dir_;
    o.local.bridge = "podpath-no-such-bridge";  // never discovers this machine by accident
    return o;
  }
  fs::path dir_;
};

}  // namespace

TEST_F(StateDir, AFileWinsOverEverything) {
  auto o = options();
  o.inventory_file = kFixture;
  const auto c = load_cluster(o);
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->origin, ClusterOrigin::InventoryFile);
  EXPECT_EQ(c->cluster.nodes.size(), 2u);
}

TEST_F(StateDir, TheOnlyLabUpOrTheNamedOne) {
  add_lab("pp");
  auto c = load_cluster(options());
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->origin, ClusterOrigin::Lab);
  EXPECT_NE(c->description.find("lab pp"), std::string::npos);
  add_lab("qq");
  const auto several = load_cluster(options());
  ASSERT_FALSE(several);
  EXPECT_EQ(several.error().to_string(),
            "several labs are up (pp, qq); choose one with --lab NAME or --inventory FILE");
  auto o = options();
  o.lab = "qq";
  c = load_cluster(o);
  ASSERT_TRUE(c);
  EXPECT_NE(c->description.find("lab qq"), std::string::npos);
  o.lab = "zz";
  const auto missing = load_cluster(o);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, 0);  // a full sentence, no errno tail
  EXPECT_NE(missing.error().message.find("scripts/lab up --name zz"), std::string::npos);
}

TEST_F(StateDir, NoLabFallsBackToLocalDiscovery) {
  const auto failed = load_cluster(options());
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("no lab is up and local discovery failed: no interface named "
                                        "'podpath-no-such-bridge'"),
            std::string::npos)
      << failed.error().message;

  auto o = options();
  o.local.hostname = "worker-1";
  o.bare_host_on_discovery_failure = true;
  const auto bare = load_cluster(o);
  ASSERT_TRUE(bare) << bare.error().to_string();
  EXPECT_EQ(bare->origin, ClusterOrigin::LocalDiscovery);
  ASSERT_EQ(bare->cluster.nodes.size(), 1u);
  EXPECT_EQ(bare->cluster.nodes[0].name, "worker-1");
  EXPECT_EQ(bare->cluster.nodes[0].netns, "");
  EXPECT_EQ(bare->cluster.nodes[0].interfaces.bridge, "");
  ASSERT_EQ(bare->notes.size(), 1u);

  o.allow_local_discovery = false;
  const auto refused = load_cluster(o);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("no lab is up"), std::string::npos);
}

TEST(UnknownNode, ListsTheKnownOnes) {
  podpath::model::Cluster c;
  EXPECT_EQ(podpath::inventory::unknown_node_message(c, "x"), "unknown node 'x' (the nodes are: none)");
  c.nodes.resize(2);
  c.nodes[0].name = "node1";
  c.nodes[1].name = "node2";
  EXPECT_EQ(podpath::inventory::unknown_node_message(c, "node9"),
            "unknown node 'node9' (the nodes are: node1, node2)");
}

TEST(UnknownPod, ListsAtMostEightKnownOnes) {
  podpath::model::Cluster c;
  EXPECT_EQ(podpath::inventory::unknown_pod_message(c, "web"), "unknown pod 'web' (pods: none)");
  for (int i = 0; i < 10; ++i) {
    podpath::model::Pod p;
    p.ns = "default";
    p.name = "p" + std::to_string(i);
    c.pods.push_back(p);
  }
  EXPECT_EQ(
      podpath::inventory::unknown_pod_message(c, "web"),
      "unknown pod 'web' (pods: default/p0, default/p1, default/p2, default/p3, default/p4, default/p5, "
      "default/p6, default/p7, ...)");
}

// `podpath pods` and `podpath routes`: option parsing and error messages. Only paths that
// need no network namespace run here (the inventory fixture's namespaces do not exist).
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "../common/cli_run.hpp"

namespace {

using podpath::testing::run_cli;

const std::string kFixture = (std::filesystem::path(PODPATH_TEST_DATA) / "lab_inventory.json").string();

}  // namespace

TEST(CliPods, ListsThePodsOfAnInventoryFile) {
  const auto r = run_cli({"pods", "--inventory", kFixture});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("NAMESPACE   NAME", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("web-7d4b9-x2k4q   0/2     10.10.129.2   node1   10.10.129.0/24"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("db-0"), std::string::npos);
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);  // not a terminal: no colour
}

TEST(CliPods, FiltersByNodeAndPrintsJson) {
  const auto r = run_cli({"pods", "--inventory", kFixture, "--node", "node2", "--output", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["name"], "db-0");
  EXPECT_EQ(j[0]["node_cidr"], "10.10.130.0/24");
  const auto short_flag = run_cli({"pods", "--inventory", kFixture, "-o", "json"});
  EXPECT_EQ(short_flag.code, 0) << short_flag.err;
}

TEST(CliPods, UnknownNodeIsOneClearLine) {
  const auto r = run_cli({"pods", "--inventory", kFixture, "--node", "node9"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "podpath pods: unknown node 'node9' (the nodes are: node1, node2)\n");
  EXPECT_TRUE(r.out.empty());
}

TEST(CliPods, UnreadableInventoryIsOneClearLine) {
  const auto r = run_cli({"pods", "--inventory", "/nonexistent/inventory.json"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err.rfind("podpath pods: cannot read inventory /nonexistent/inventory.json", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

TEST(CliPods, InvalidInventoryNamesTheField) {
  const auto r = run_cli({"pods", "--inventory", PODPATH_TEST_DATA "/cni/networks/kubenet/10.10.129.2"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
}

TEST(CliPods, BadOptionsAreRejected) {
  const auto both = run_cli({"pods", "--inventory", kFixture, "--lab", "pp"});
  EXPECT_EQ(both.code, 2);
  EXPECT_NE(both.err.find("excludes"), std::string::npos) << both.err;
  const auto yaml = run_cli({"pods", "--inventory", kFixture, "--output", "yaml"});
  EXPECT_EQ(yaml.code, 2);
  EXPECT_NE(yaml.err.find("yaml"), std::string::npos) << yaml.err;
}

TEST(CliPods, UnknownLabSaysHowToStartOne) {
  const auto r = run_cli({"pods", "--lab", "podpath-test-no-such-lab"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no lab named 'podpath-test-no-such-lab' is up"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("scripts/lab up"), std::string::npos) << r.err;
}

TEST(CliPods, HelpIsWrittenForAnOperator) {
  const auto r = run_cli({"pods", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("kubectl get po -o wide"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--inventory"), std::string::npos);
  EXPECT_NE(r.out.find("--node"), std::string::npos);
  EXPECT_NE(r.out.find("--output"), std::string::npos);
}

TEST(CliRoutes, UnknownNodeIsRejectedBeforeAnyNamespaceIsRead) {
  const auto r = run_cli({"routes", "--inventory", kFixture, "--node", "node9"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "podpath routes: unknown node 'node9' (the nodes are: node1, node2)\n");
}

TEST(CliRoutes, BadOptionsAreRejected) {
  EXPECT_EQ(run_cli({"routes", "--output", "xml"}).code, 2);
  EXPECT_EQ(run_cli({"routes", "--inventory", kFixture, "--lab", "pp"}).code, 2);
  const auto missing = run_cli({"routes", "--inventory", "/nonexistent.json"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("podpath routes: cannot read inventory /nonexistent.json"), std::string::npos)
      << missing.err;
}

TEST(CliRoutes, HelpIsWrittenForAnOperator) {
  const auto r = run_cli({"routes", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("route -n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--node"), std::string::npos);
  const auto top = run_cli({"--help"});
  EXPECT_NE(top.out.find("routes"), std::string::npos);
  EXPECT_NE(top.out.find("pods"), std::string::npos);
}

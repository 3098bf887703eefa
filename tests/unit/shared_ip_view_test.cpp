// shared-ip's output: one pod's result as JSON (docs/containers.md) and as the table.
#include "check/shared_ip.hpp"
#include "output/shared_ip_view.hpp"
#include "shared_ip_fixture.hpp"

namespace {

SharedIpResult failing_pod() {
  auto in = pod_input();
  in.containers[0].records = {rec(11, kNodeNs, "10.0.0.2", 40000, 1)};
  return check_shared_ip(in);
}

}  // namespace

TEST(SharedIpView, OnePodAsJson) {
  const auto fail = failing_pod();
  const auto j = podpath::output::shared_ip_result_to_json(fail);
  EXPECT_EQ(j["verdict"], "FAIL");
  EXPECT_EQ(j["ip"], "10.10.129.2");
  EXPECT_EQ(j["netns"]["cookie"], kPodNs);
  EXPECT_EQ(j["containers"][0]["name"], "app");
  EXPECT_EQ(j["containers"][0]["status"], "WRONG");
  EXPECT_EQ(j["containers"][0]["addresses"][0]["ip"], "10.0.0.2");
  EXPECT_EQ(j["containers"][0]["addresses"][0]["kind"], "other-namespace");
  EXPECT_EQ(j["containers"][0]["addresses"][0]["netns"]["label"], "pp-node1 (node node1, host network)");
  EXPECT_EQ(j["containers"][0]["addresses"][0]["tx_packets"], 1);
  EXPECT_EQ(j["containers"][1]["status"], "no traffic seen");
}

TEST(SharedIpView, ReportAsJsonAndTable) {
  podpath::check::SharedIpReport report;
  report.results = {failing_pod()};
  report.verdict = overall_verdict(report.results);
  report.namespace_mode = "kern-ctx";
  report.attach_cgroup = "/sys/fs/cgroup/unified/podpath-lab.pp";
  report.duration_s = 1.5;
  const auto j = podpath::output::shared_ip_to_json(report);
  EXPECT_EQ(j["verdict"], "FAIL");
  EXPECT_EQ(j["namespace_mode"], "kern-ctx");
  EXPECT_EQ(j["attach_cgroup"], "/sys/fs/cgroup/unified/podpath-lab.pp");
  EXPECT_EQ(j["duration_s"], 1.5);
  ASSERT_EQ(j["pods"].size(), 1u);
  EXPECT_EQ(j["pods"][0]["pod"], "default/web");

  podpath::model::Cluster cluster;
  podpath::model::Pod web;
  web.ns = "default";
  web.name = "web";
  web.node = "node1";
  cluster.pods.push_back(web);
  const std::string text = podpath::output::render_shared_ip(report, cluster);
  EXPECT_EQ(text.rfind("POD default/web   IP 10.10.129.2   node node1   netns pp-pod-x2k4q\n", 0), 0u)
      << text;
  EXPECT_NE(text.find("  CONTAINER   NETNS"), std::string::npos) << text;
  EXPECT_NE(text.find("10.0.0.2 (in pp-node1 (node node1, host network))"), std::string::npos) << text;
  EXPECT_NE(text.find("WRONG"), std::string::npos) << text;
  EXPECT_NE(text.find("  FAIL: container app used 10.0.0.2 from pp-node1"), std::string::npos) << text;
  EXPECT_EQ(text.find("OVERALL"), std::string::npos) << "one pod needs no overall line";

  report.results.push_back(report.results.front());
  EXPECT_NE(podpath::output::render_shared_ip(report, cluster).find("OVERALL FAIL\n"), std::string::npos);
}

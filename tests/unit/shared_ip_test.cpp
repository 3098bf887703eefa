// The shared-IP verdict and container attribution, on hand-made container-flow records:
// PASS, FAIL naming the container (other address, other namespace), no traffic, mixed.
#include "inventory/container_attribution.hpp"
#include "inventory/container_index.hpp"
#include "inventory/shared_ip.hpp"
#include "shared_ip_fixture.hpp"

namespace {

const ContainerResult& container(const SharedIpResult& r, const std::string& name) {
  for (const auto& c : r.containers) {
    if (c.name == name) return c;
  }
  static const ContainerResult none;
  ADD_FAILURE() << "no container " << name;
  return none;
}

}  // namespace

TEST(SharedIp, PassWhenEveryContainerUsedThePodIpFromThePodsNamespace) {
  auto in = pod_input();
  in.containers[0].records = {rec(11, kPodNs, "10.10.129.2", 40000, 7, 5),
                              rec(11, kPodNs, "10.10.129.2", 40001, 3)};
  in.containers[1].records = {rec(12, kPodNs, "10.10.129.2", 40002, 4, 4)};
  const auto r = check_shared_ip(in);
  EXPECT_EQ(r.verdict, Verdict::Pass);
  EXPECT_EQ(container(r, "app").status, ContainerStatus::Ok);
  ASSERT_EQ(container(r, "app").uses.size(), 1u);  // one (namespace, address): summed
  const auto& u = container(r, "app").uses[0];
  EXPECT_EQ(u.tx_packets, 10u);
  EXPECT_EQ(u.tx_bytes, 1000u);
  EXPECT_EQ(u.rx_packets, 5u);
  EXPECT_EQ(u.rx_bytes, 300u);
  EXPECT_EQ(u.flows, 2u);
  EXPECT_EQ(u.kind, UseKind::PodIp);
  EXPECT_NE(r.summary.find("(app, sidecar)"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("10.10.129.2"), std::string::npos);
}

TEST(SharedIp, FailNamesTheContainerOnTheHostNetwork) {
  auto in = pod_input();
  in.containers.push_back(
      {"debug", "id-debug", 13, kNodeNs, {rec(13, kNodeNs, "10.10.129.1", 5000, 1, 1)}, {}});
  in.containers[0].records = {rec(11, kPodNs, "10.10.129.2", 40000, 2)};
  const auto r = check_shared_ip(in);
  EXPECT_EQ(r.verdict, Verdict::Fail);
  const auto& d = container(r, "debug");
  EXPECT_EQ(d.status, ContainerStatus::Wrong);
  ASSERT_EQ(d.uses.size(), 1u);
  EXPECT_EQ(d.uses[0].kind, UseKind::OtherNamespace);
  EXPECT_NE(
      r.summary.find("container debug used 10.10.129.1 from pp-node1 (node node1, host network) instead of "
                     "the pod IP 10.10.129.2 from the pod's namespace pp-pod-x2k4q"),
      std::string::npos)
      << r.summary;
  EXPECT_NE(r.summary.find("no traffic seen from sidecar"), std::string::npos) << r.summary;
  EXPECT_EQ(container(r, "app").status, ContainerStatus::Ok);
}

TEST(SharedIp, FailWhenThePodIpIsUsedFromAnotherNamespace) {
  auto in = pod_input();
  in.containers[1].records = {rec(12, kOtherNs, "10.10.129.2", 40000, 1)};
  const auto r = check_shared_ip(in);
  EXPECT_EQ(r.verdict, Verdict::Fail);
  EXPECT_NE(r.summary.find("container sidecar used the pod IP 10.10.129.2 but from pp-pod-x2k4q-x"),
            std::string::npos)
      << r.summary;
}

TEST(SharedIp, FailOnAnotherAddressInsideThePodsNamespace) {
  auto in = pod_input();
  in.containers[0].records = {rec(11, kPodNs, "10.10.129.9", 40000, 1)};
  const auto r = check_shared_ip(in);
  EXPECT_EQ(r.verdict, Verdict::Fail);
  EXPECT_EQ(container(r, "app").uses[0].kind, UseKind::OtherAddress);
  EXPECT_NE(
      r.summary.find("container app used 10.10.129.9 instead of the pod IP 10.10.129.2 (inside the pod's "
                     "namespace pp-pod-x2k4q)"),
      std::string::npos)
      << r.summary;
}

TEST(SharedIp, NoTrafficAtAll) {
  auto in = pod_input();
  in.containers[0].records = {rec(11, kPodNs, "10.10.129.2", 40000, 0, 0)};  // an entry without packets
  const auto r = check_shared_ip(in);
  EXPECT_EQ(r.verdict, Verdict::NoTraffic);
  EXPECT_EQ(container(r, "app").status, ContainerStatus::NoTraffic);
  EXPECT_EQ(container(r, "sidecar").status, ContainerStatus::NoTraffic);
  EXPECT_NE(r.summary.find("--probe"), std::string::npos);
  EXPECT_STREQ(to_string(ContainerStatus::NoTraffic), "no traffic seen");
}

TEST(SharedIp, AProbeThatCouldNotRunSaysWhy) {
  // Issue 15 item 14: without CAP_SYS_ADMIN the answer was "NO TRAFFIC ... run with --probe".
  auto in = pod_input();
  in.containers[0].probe_error =
      "cannot enter its network namespace (entering a network namespace needs CAP_SYS_ADMIN): Operation not "
      "permitted";
  in.containers[1].probe_error = in.containers[0].probe_error;
  const auto r = check_shared_ip(in);
  EXPECT_EQ(r.verdict, Verdict::NoTraffic);
  EXPECT_EQ(r.summary.find("run with --probe"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("container app: the probe could not run in it: cannot enter its network namespace "
                           "(entering a network namespace needs CAP_SYS_ADMIN)"),
            std::string::npos)
      << r.summary;
  EXPECT_NE(container(r, "sidecar").reason.find("CAP_SYS_ADMIN"), std::string::npos);
  // A container that sent traffic anyway is judged by it, not by the failed probe.
  in.containers[0].records = {rec(11, kPodNs, "10.10.129.2", 40000, 3, 3)};
  const auto sent = check_shared_ip(in);
  EXPECT_EQ(container(sent, "app").status, ContainerStatus::Ok);
  EXPECT_TRUE(container(sent, "app").reason.empty());
}

TEST(SharedIp, MixedPassWithAnIdleContainerAndLoopback) {
  auto in = pod_input();
  in.containers[0].records = {rec(11, kPodNs, "10.10.129.2", 40000, 3),
                              rec(11, kPodNs, "127.0.0.1", 6379, 2, 2)};
  const auto r = check_shared_ip(in);
  EXPECT_EQ(r.verdict, Verdict::Pass);
  const auto& app = container(r, "app");
  ASSERT_EQ(app.uses.size(), 2u);
  EXPECT_EQ(app.uses[0].kind, UseKind::Loopback);  // more packets first
  EXPECT_EQ(app.uses[1].kind, UseKind::PodIp);
  EXPECT_EQ(container(r, "sidecar").status, ContainerStatus::NoTraffic);
  EXPECT_NE(r.summary.find("every container that sent traffic (app)"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("no traffic seen from sidecar"), std::string::npos) << r.summary;
}

TEST(SharedIp, LoopbackInAnotherNamespaceIsWrong) {
  auto in = pod_input();
  in.containers[0].records = {rec(11, kNodeNs, "127.0.0.1", 40000, 1)};
  EXPECT_EQ(check_shared_ip(in).verdict, Verdict::Fail);
}

TEST(SharedIp, UnknownNamespaceIsJudgedByAddressAlone) {
  auto in = pod_input();
  in.containers[0].records = {rec(11, 0, "10.10.129.2", 40000, 1)};
  in.containers[1].records = {rec(12, 0, "10.0.0.2", 40001, 1)};
  const auto r = check_shared_ip(in);
  EXPECT_EQ(r.verdict, Verdict::Fail);
  EXPECT_EQ(container(r, "app").status, ContainerStatus::Ok);
  EXPECT_NE(container(r, "sidecar").reason.find("network namespace not visible here"), std::string::npos);
  in.pod_netns = 0;  // the pod's own namespace unknown: same
  in.containers[1].records.clear();
  EXPECT_EQ(check_shared_ip(in).verdict, Verdict::Pass);
}

TEST(SharedIp, WrongUsesComeFirstAndAreCounted) {
  auto in = pod_input();
  in.containers[0].records = {rec(11, kPodNs, "10.10.129.2", 40000, 50),
                              rec(11, kNodeNs, "10.0.0.2", 40001, 1),
                              rec(11, kOtherNs, "10.10.129.7", 40002, 1)};
  const auto r = check_shared_ip(in);
  const auto& app = container(r, "app");
  ASSERT_EQ(app.uses.size(), 3u);
  EXPECT_TRUE(app.uses[0].wrong());
  EXPECT_TRUE(app.uses[1].wrong());
  EXPECT_FALSE(app.uses[2].wrong());
  EXPECT_NE(app.reason.find("and 1 more"), std::string::npos) << app.reason;
}

TEST(SharedIp, OverallVerdict) {
  auto in = pod_input();
  in.containers[0].records = {rec(11, kPodNs, "10.10.129.2", 40000, 1)};
  const auto pass = check_shared_ip(in);
  in.containers[0].records = {rec(11, kNodeNs, "10.0.0.2", 40000, 1)};
  const auto fail = check_shared_ip(in);
  in.containers[0].records.clear();
  const auto idle = check_shared_ip(in);
  EXPECT_EQ(overall_verdict({pass, idle}), Verdict::Pass);
  EXPECT_EQ(overall_verdict({pass, fail, idle}), Verdict::Fail);
  EXPECT_EQ(overall_verdict({idle}), Verdict::NoTraffic);
  EXPECT_EQ(overall_verdict({}), Verdict::NoTraffic);
}

TEST(SharedIp, NetnsLabels) {
  const NetnsLabels labels{{7, "pp-node1"}};
  EXPECT_EQ(netns_label(labels, 7), "pp-node1");
  EXPECT_EQ(netns_label(labels, 0), "unknown");
  EXPECT_EQ(netns_label(labels, 8), "netns cookie 8");
}

// ------------------------------------------------------------------ container index

namespace {

podpath::model::Cluster cluster_with_containers() {
  podpath::model::Cluster c;
  c.lab = "pp";
  podpath::model::Pod p;
  p.ns = "default";
  p.name = "web";
  p.uid = "2f0c7d0e-6c1b-4f3e-9a55-0b7d2c1e9f10";
  p.ip = ip("10.10.129.2");
  p.sandbox_id = std::string(64, 'a');
  p.containers = {{"app", std::string(64, 'b'), "/cg/app", 11, 100, "", std::nullopt, false},
                  {"sidecar", std::string(64, 'c'), "/cg/sidecar", 12, 101, "", std::nullopt, false}};
  c.pods.push_back(p);
  podpath::model::Pod q;
  q.ns = "default";
  q.name = "db";
  q.uid = "5c1e2b7a-0d3f-4e8b-8a21-3f9d4c6b7e02";
  q.ip = ip("10.10.130.2");
  q.sandbox_id = std::string(64, 'd');
  c.pods.push_back(q);
  return c;
}

DiscoveredCgroup discovered(const std::string& uid, const std::string& id, std::uint64_t cgid,
                            const std::string& subpath = "") {
  DiscoveredCgroup d;
  d.path = "/sys/fs/cgroup/kubepods/besteffort/pod" + uid + "/" + id + subpath;
  d.cgroup_id = cgid;
  d.parsed.pod_uid = uid;
  d.parsed.container_id = id;
  d.parsed.subpath = subpath;
  return d;
}

}  // namespace

TEST(ContainerIndex, FromTheInventory) {
  const auto cluster = cluster_with_containers();
  const auto index = ContainerIndex::from_cluster(cluster);
  ASSERT_NE(index.find(11), nullptr);
  EXPECT_EQ(index.find(11)->pod, "default/web");
  EXPECT_EQ(index.find(11)->container, "app");
  EXPECT_EQ(index.find(11)->display(), "default/web/app");
  EXPECT_EQ(index.find(99), nullptr);
  const auto web = index.containers_of("default/web");
  ASSERT_EQ(web.size(), 2u);
  EXPECT_EQ(web[0]->container, "app");
  EXPECT_EQ(web[1]->container, "sidecar");
}

TEST(ContainerIndex, DiscoveredCgroupsMatchPodsByUidOrSandbox) {
  const auto cluster = cluster_with_containers();
  auto index = ContainerIndex::from_cluster(cluster);
  const std::string db_uid = "5c1e2b7a-0d3f-4e8b-8a21-3f9d4c6b7e02";
  const std::string unknown_uid = "11111111-2222-4333-8444-555555555555";
  const std::string e64(64, 'e');
  // db has no uid-known containers: its sandbox names the uid; its container is found by uid.
  auto cluster2 = cluster;
  cluster2.pods[1].uid.clear();
  index.add_discovered({discovered(db_uid, std::string(64, 'd'), 21), discovered(db_uid, e64, 22),
                        discovered(db_uid, e64, 23, "/nested"),
                        discovered(unknown_uid, std::string(64, 'f'), 24),
                        discovered("2f0c7d0e-6c1b-4f3e-9a55-0b7d2c1e9f10", std::string(64, 'b'), 11)},
                       cluster2);
  ASSERT_NE(index.find(21), nullptr);
  EXPECT_TRUE(index.find(21)->sandbox);
  EXPECT_EQ(index.find(21)->container, "(sandbox)");
  EXPECT_EQ(index.find(22)->pod, "default/db");
  EXPECT_EQ(index.find(22)->container, "eeeeeeeeeeee");  // unnamed: the short id
  EXPECT_EQ(index.find(23)->container_id, e64);          // nested cgroup: same container
  EXPECT_EQ(index.find(24)->pod, "");                    // no such pod in the inventory
  EXPECT_EQ(index.find(11)->cgroup_path, "/cg/app");     // the inventory's entry is kept
  const auto db = index.containers_of("default/db");
  ASSERT_EQ(db.size(), 1u);  // sandbox excluded, nested cgroup folded into its container
  EXPECT_EQ(db[0]->cgroup_id, 22u);
  ASSERT_NE(index.sandbox_of("default/db"), nullptr);
  EXPECT_EQ(index.sandbox_of("default/db")->cgroup_id, 21u);
}

// ------------------------------------------------------------------ attribution (trace column)

TEST(ContainerAttribution, FlowKeysAtAPodVethFindTheirContainer) {
  const auto cluster = cluster_with_containers();
  const auto index = ContainerIndex::from_cluster(cluster);
  ContainerAttribution a(index, {rec(11, kPodNs, "10.10.129.2", 43512, 5, 5, "10.10.130.2", 5432),
                                 rec(12, kPodNs, "10.10.129.2", 43513, 5, 5, "10.10.130.2", 5432),
                                 rec(12, kPodNs, "10.10.129.2", 0x4242, 1, 1, "10.10.130.2", 0, IPPROTO_ICMP),
                                 rec(77, kPodNs, "10.10.129.2", 9999, 1)});
  podpath::model::FlowKey out{ip("10.10.129.2"), ip("10.10.130.2"), 43512, 5432, IPPROTO_TCP, false};
  EXPECT_EQ(a.column(out), "app");             // leaving the pod: the sender
  EXPECT_EQ(a.column(out.reversed()), "app");  // the reply: delivered to it
  out.sport = 43513;
  EXPECT_EQ(a.column(out, kPodNs), "sidecar");
  EXPECT_EQ(a.column(out, kNodeNs), "");  // narrowed to another namespace
  out.sport = 1;
  EXPECT_EQ(a.column(out), "");  // nobody
  // ICMP: echo identifier in sport both ways.
  podpath::model::FlowKey echo{ip("10.10.129.2"), ip("10.10.130.2"), 0x4242, 8 << 8, IPPROTO_ICMP, false};
  podpath::model::FlowKey reply{ip("10.10.130.2"), ip("10.10.129.2"), 0x4242, 0, IPPROTO_ICMP, false};
  EXPECT_EQ(a.column(echo), "sidecar");
  EXPECT_EQ(a.column(reply), "sidecar");
  // A cgroup the index does not know is still reported, by id.
  const auto unknown = a.lookup(0, ip("10.10.129.2"), IPPROTO_TCP, 9999);
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].cgroup_id, 77u);
  EXPECT_EQ(a.column({ip("10.10.129.2"), ip("10.10.130.2"), 9999, 8080, IPPROTO_TCP, false}), "cgroup:77");
}

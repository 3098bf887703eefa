// The Kubernetes API as the inventory source: the source-order decision, the cluster built
// from recorded v1 objects, finding this host's node, time-based resolution through the
// resolver the live session uses, and connecting through recorded API responses.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "inventory/kube_source.hpp"
#include "inventory/processes.hpp"
#include "inventory/resolver.hpp"
#include "inventory/source.hpp"
#include "kube_fake_transport.hpp"

namespace fs = std::filesystem;
using namespace podpath;
using inventory::ClusterOrigin;
using inventory::SourceFacts;
using nlohmann::json;

namespace {

const fs::path kData = fs::path(PODPATH_TEST_DATA) / "kube";

json read_json(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

model::IpAddress ip(const char* text) { return *model::IpAddress::parse(text); }

kube::Change change(kube::ChangeType type, decltype(kube::Change::object) object) {
  kube::Change c;
  c.resource = std::holds_alternative<kube::Node>(object) ? kube::Resource::Nodes : kube::Resource::Pods;
  c.type = type;
  c.object = std::move(object);
  return c;
}

std::vector<ClusterOrigin> tries(const SourceFacts& f) { return inventory::plan_sources(f).tries; }

std::string skipped(const SourceFacts& f, ClusterOrigin o) {
  for (const auto& s : inventory::plan_sources(f).skipped) {
    if (s.origin == o) return s.detail;
  }
  return "(tried)";
}

SourceFacts no_lab() {
  SourceFacts f;
  f.lab_error =
      podpath::Error{"no lab is up and no --inventory was given; start one with: scripts/lab up", ENOENT};
  return f;
}

}  // namespace

// ---------------------------------------------------------------------------- source order

TEST(SourceOrder, AnInventoryFileOrANamedLabIsTheOnlySource) {
  SourceFacts f;
  f.inventory_file = true;
  f.kube = SourceFacts::Kube::Found;
  EXPECT_EQ(tries(f), std::vector{ClusterOrigin::InventoryFile});
  EXPECT_EQ(skipped(f, ClusterOrigin::KubernetesApi), "--inventory was given");

  SourceFacts g;
  g.lab_named = true;
  g.lab_error = podpath::Error{"no lab named 'qq' is up", ENOENT};
  const auto plan = inventory::plan_sources(g);
  EXPECT_TRUE(plan.tries.empty());
  ASSERT_TRUE(plan.error);
  EXPECT_EQ(plan.error->message, "no lab named 'qq' is up");
}

TEST(SourceOrder, KubeconfigFlagBeatsALabThatIsUpAndNeverFallsBack) {
  SourceFacts f;  // a lab is up (no lab_error)
  f.kubeconfig_flag = true;
  f.kube = SourceFacts::Kube::Found;
  EXPECT_EQ(tries(f), std::vector{ClusterOrigin::KubernetesApi});
  EXPECT_EQ(skipped(f, ClusterOrigin::Lab), "--kubeconfig was given");
  EXPECT_EQ(skipped(f, ClusterOrigin::LocalDiscovery), "--kubeconfig was given");

  f.kube = SourceFacts::Kube::Invalid;
  f.kube_detail = "kubeconfig /k: field users[0].user: is missing";
  const auto plan = inventory::plan_sources(f);
  EXPECT_TRUE(plan.tries.empty());
  ASSERT_TRUE(plan.error);
  EXPECT_EQ(plan.error->message, f.kube_detail);
}

TEST(SourceOrder, ALabThatIsUpBeatsAnImplicitKubeconfig) {
  SourceFacts f;
  f.kube = SourceFacts::Kube::Found;
  EXPECT_EQ(tries(f), std::vector{ClusterOrigin::Lab});
  EXPECT_EQ(skipped(f, ClusterOrigin::KubernetesApi),
            "a lab is up (give --kubeconfig to use the API instead)");
}

TEST(SourceOrder, SeveralLabsUpIsAnError) {
  SourceFacts f;
  f.kube = SourceFacts::Kube::Found;
  f.lab_error =
      podpath::Error{"several labs are up (pp, qq); choose one with --lab NAME or --inventory FILE", 0};
  const auto plan = inventory::plan_sources(f);
  ASSERT_TRUE(plan.error);
  EXPECT_EQ(plan.error->message, f.lab_error->message);
}

TEST(SourceOrder, NoLabThenTheApiThenLocalDiscovery) {
  SourceFacts f = no_lab();
  f.kube = SourceFacts::Kube::Found;
  EXPECT_EQ(tries(f), (std::vector{ClusterOrigin::KubernetesApi, ClusterOrigin::LocalDiscovery}));
  EXPECT_EQ(skipped(f, ClusterOrigin::Lab), "no lab is up");
  EXPECT_EQ(skipped(f, ClusterOrigin::InventoryFile), "no --inventory FILE given");

  // In a pod the API is the source: no quiet fall-back to a node's own view.
  f.in_cluster = true;
  EXPECT_EQ(tries(f), std::vector{ClusterOrigin::KubernetesApi});

  // No configuration at all: local discovery, and doctor says why not the API.
  SourceFacts g = no_lab();
  g.kube_detail = "no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not in a pod";
  EXPECT_EQ(tries(g), std::vector{ClusterOrigin::LocalDiscovery});
  EXPECT_EQ(skipped(g, ClusterOrigin::KubernetesApi), g.kube_detail);

  // A malformed ~/.kube/config is reported and skipped; in a pod it is an error.
  SourceFacts h = no_lab();
  h.kube = SourceFacts::Kube::Invalid;
  h.kube_detail = "kubeconfig /root/.kube/config: field clusters: is missing";
  EXPECT_EQ(tries(h), std::vector{ClusterOrigin::LocalDiscovery});
  EXPECT_EQ(skipped(h, ClusterOrigin::KubernetesApi), h.kube_detail);
  h.in_cluster = true;
  ASSERT_TRUE(inventory::plan_sources(h).error);

  // A command without local discovery (shared-ip) and nothing else: the lab's own line.
  SourceFacts i = no_lab();
  i.allow_local_discovery = false;
  ASSERT_TRUE(inventory::plan_sources(i).error);
  EXPECT_EQ(inventory::plan_sources(i).error->message, i.lab_error->message);
}

// ---------------------------------------------------------------------------- the cluster

class KubeCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto web = kube::parse_pod(read_json(kData / "pod.json"));
    ASSERT_TRUE(web) << web.error().to_string();
    web_ = *web;
    const auto node1 = kube::parse_node(read_json(kData / "node.json"));
    ASSERT_TRUE(node1) << node1.error().to_string();
    node1_ = *node1;
    node2_ = node1_;
    node2_.uid = "node2-uid";
    node2_.name = "node2";
    node2_.internal_ip = ip("10.0.0.3");
    node2_.pod_cidrs = {*model::Cidr::parse("10.10.130.0/24")};

    db_ = web_;
    db_.uid = "db-uid";
    db_.name = "db-0";
    db_.node = "node2";
    db_.ips = {ip("10.10.130.2")};
    db_.containers = {{"db", "dd01", "containerd", true, false, 0}};

    host_net_ = web_;
    host_net_.uid = "exporter-uid";
    host_net_.name = "node-exporter-abcde";
    host_net_.host_network = true;
    host_net_.ips = {ip("10.0.0.2")};

    done_ = web_;
    done_.uid = "job-uid";
    done_.name = "job-1";
    done_.phase = "Succeeded";
    done_.ips = {ip("10.10.129.9")};

    for (const auto& n : {node1_, node2_}) nodes_.apply(change(kube::ChangeType::Added, n));
    for (const auto& p : {web_, db_, host_net_, done_}) pods_.apply(change(kube::ChangeType::Added, p), now_);
  }

  kube::Pod web_, db_, host_net_, done_;
  kube::Node node1_, node2_;
  kube::NodeIndex nodes_;
  kube::PodIndex pods_;
  kube::Time now_ = std::chrono::system_clock::now();
};

TEST_F(KubeCluster, NodesWithPodCidrsPodsWithContainersHostNetworkAndFinishedLeftOut) {
  const model::Cluster c = inventory::cluster_from_kube(nodes_, pods_, "", {});
  ASSERT_EQ(c.nodes.size(), 2u);
  EXPECT_EQ(c.nodes[0].name, "node1");
  EXPECT_EQ(c.nodes[0].underlay_ip, ip("10.0.0.2"));
  EXPECT_EQ(c.nodes[0].pod_cidr.to_string(), "10.10.129.0/24");
  EXPECT_EQ(c.nodes[1].pod_cidr.to_string(), "10.10.130.0/24");
  EXPECT_TRUE(c.lab.empty());
  EXPECT_FALSE(c.gateway);

  ASSERT_EQ(c.pods.size(), 2u) << "hostNetwork and Succeeded pods claim no address";
  const model::Pod* web = c.find_pod("default/web-7d4b9-x2k4q");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->ip, ip("10.10.129.2"));
  EXPECT_EQ(web->node, "node1");
  EXPECT_EQ(web->uid, web_.uid);
  ASSERT_GE(web->containers.size(), 2u);
  EXPECT_EQ(web->containers[0].name, "app");
  EXPECT_EQ(web->containers[0].id.size(), 64u) << "containerd:// is split off";
  EXPECT_TRUE(web->netns.empty()) << "another node's pod, or no host facts: named only";
  EXPECT_EQ(c.find_pod_by_ip(ip("10.0.0.2")), nullptr);
  EXPECT_EQ(c.find_pod("job-1"), nullptr);
}

TEST_F(KubeCluster, ContainersCarryTheApisReadinessForReadyAsKubectlShowsIt) {
  const model::Cluster c = inventory::cluster_from_kube(nodes_, pods_, "", {});
  const model::Pod* web = c.find_pod("default/web-7d4b9-x2k4q");
  ASSERT_NE(web, nullptr);
  std::map<std::string, std::pair<bool, bool>> seen;  // name -> (ready, init)
  for (const auto& ct : web->containers) {
    ASSERT_TRUE(ct.ready.has_value()) << ct.name;
    seen[ct.name] = {inventory::container_ready(ct), ct.init};
  }
  // pod.json: app ready, sidecar not, init container setup done (kubectl: READY 1/2).
  const std::map<std::string, std::pair<bool, bool>> want{
      {"app", {true, false}}, {"sidecar", {false, false}}, {"setup", {true, true}}};
  EXPECT_EQ(seen, want);
  // Without the API's word (lab file, local discovery), a container is ready when it runs here.
  model::Container lab;
  lab.pid = 0;
  EXPECT_FALSE(inventory::container_ready(lab));
}

TEST_F(KubeCluster, TheOwnNodeTakesWhatThisHostKnows) {
  inventory::HostFacts host;
  inventory::LocalDiscovery local;
  model::Node found;
  found.name = "myhost";
  found.interfaces = {"ens5", "cni0", ""};
  found.bridge_ip = ip("10.10.129.1");
  local.cluster.nodes = {found};
  local.cluster.underlay = model::Cidr::parse("10.0.0.0/24");
  local.cluster.gateway = model::Gateway{"gateway", "", ip("10.0.0.1"), "ens5", {}};
  host.discovery = local;
  host.pod_netns[web_.uid] = "cni-1234";
  host.pod_veth[web_.uid] = "veth0a1b2c3d";
  inventory::DiscoveredCgroup cg;
  cg.path = "/sys/fs/cgroup/kubepods/pod2f0c/" + web_.containers[0].id;
  cg.cgroup_id = 4242;
  host.cgroups[web_.containers[0].id] = cg;

  const model::Cluster c = inventory::cluster_from_kube(nodes_, pods_, "node1", host);
  const model::Node* n1 = c.find_node("node1");
  ASSERT_NE(n1, nullptr);
  EXPECT_EQ(n1->netns, "") << "this host's own namespace";
  EXPECT_EQ(n1->interfaces.bridge, "cni0");
  EXPECT_EQ(n1->interfaces.uplink, "ens5");
  EXPECT_EQ(n1->bridge_ip, ip("10.10.129.1"));
  EXPECT_EQ(n1->pod_cidr.to_string(), "10.10.129.0/24") << "the API's pod CIDR wins";
  ASSERT_TRUE(c.gateway);
  EXPECT_EQ(c.gateway->ip, ip("10.0.0.1"));
  const model::Pod* web = c.find_pod("web-7d4b9-x2k4q");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->netns, "cni-1234");
  EXPECT_EQ(web->veth, "veth0a1b2c3d");
  EXPECT_EQ(web->containers[0].cgroup_id, 4242u);
  EXPECT_EQ(web->containers[0].cgroup_path, cg.path.string());
  EXPECT_EQ(web->containers[1].cgroup_id, 0u) << "no cgroup found for it";
}

TEST_F(KubeCluster, ThisHostsNodeByFlagHostnameOrAddress) {
  inventory::HostIdentity host{"worker-7", {ip("127.0.0.1"), ip("10.0.0.3")}};
  EXPECT_EQ(*inventory::find_own_node(nodes_, std::nullopt, host), "node2") << "by address";
  EXPECT_EQ(*inventory::find_own_node(nodes_, std::string("node1"), host), "node1") << "--node wins";
  host.hostname = "NODE1.example.internal";
  EXPECT_EQ(*inventory::find_own_node(nodes_, std::nullopt, host), "node1") << "by hostname, lower-cased";
  host = {"laptop", {ip("127.0.0.1")}};
  EXPECT_EQ(*inventory::find_own_node(nodes_, std::nullopt, host), "") << "not a node";
  const auto bad = inventory::find_own_node(nodes_, std::string("node9"), host);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "unknown node 'node9' (the nodes are: node1, node2)");
}

// ---------------------------------------------------------------------------- resolution by time

TEST_F(KubeCluster, FlowsResolveToThePodThatHeldTheAddressWhenFirstSeen) {
  // The flows' clock: monotonic ns; "now" is 1000 s on it, and the wall clock's now_.
  constexpr std::uint64_t kMonoNow = 1'000'000'000'000ULL;
  inventory::ResolverClocks clocks{[] { return kMonoNow; }, [this] { return now_; }};
  const auto mono_at = [&](kube::Time t) {
    return kMonoNow -
           static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now_ - t).count());
  };

  // web was created at T0; deleted at T0+100 s; "cache" takes its IP at T0+101 s.
  kube::PodIndex pods(std::chrono::seconds(60));
  const kube::Time t0 = now_ - std::chrono::seconds(120);
  web_.created = t0;
  pods.apply(change(kube::ChangeType::Added, web_), t0);
  pods.apply(change(kube::ChangeType::Deleted, web_), t0 + std::chrono::seconds(100));
  kube::Pod cache = web_;
  cache.uid = "cache-uid";
  cache.name = "cache-0";
  cache.created = t0 + std::chrono::seconds(101);
  pods.apply(change(kube::ChangeType::Added, cache), cache.created);

  const auto cluster =
      std::make_shared<const model::Cluster>(inventory::cluster_from_kube(nodes_, pods, "", {}));
  auto cidrs = inventory::CidrTable::build(*cluster);
  ASSERT_TRUE(cidrs);
  auto resolver = std::make_unique<inventory::Resolver>(cluster, *cidrs, &pods, clocks);

  const auto old_flow = resolver->resolve_at(ip("10.10.129.2"), mono_at(t0 + std::chrono::seconds(50)));
  EXPECT_EQ(old_flow.name, "default/web-7d4b9-x2k4q");
  EXPECT_TRUE(old_flow.departed) << "deleted 20 s ago, within the 60 s grace";
  ASSERT_NE(old_flow.pod, nullptr);
  EXPECT_EQ(old_flow.pod->uid, web_.uid);
  EXPECT_EQ(old_flow.node, "node1");

  const auto new_flow = resolver->resolve_at(ip("10.10.129.2"), mono_at(t0 + std::chrono::seconds(105)));
  EXPECT_EQ(new_flow.name, "default/cache-0");
  EXPECT_FALSE(new_flow.departed);
  EXPECT_EQ(new_flow.pod.get(), cluster->find_pod("cache-0")) << "a live pod points into the snapshot";
  EXPECT_EQ(resolver->resolve(ip("10.10.129.2")).name, "default/cache-0");
  EXPECT_EQ(resolver->resolve_at(ip("10.10.129.2"), mono_at(t0 + std::chrono::seconds(50))).pod, old_flow.pod)
      << "a departed pod is made once and shared";

  // Endpoint::pod owns what it points at: the departed pod's copy outlives the resolver, and
  // the live pod keeps the snapshot alive (hardening-b's ownership model).
  const std::weak_ptr<const model::Cluster> snapshot = cluster;
  resolver.reset();
  EXPECT_EQ(old_flow.pod->full_name(), "default/web-7d4b9-x2k4q");
  EXPECT_EQ(old_flow.pod.use_count(), 1) << "the resolver's copy went with it; the endpoint's stays";
  EXPECT_GT(snapshot.use_count(), 1) << "new_flow.pod shares the snapshot";
  EXPECT_EQ(new_flow.pod->full_name(), "default/cache-0");

  // Past the grace period the deleted pod is forgotten: old flows go to the only holder.
  const inventory::Resolver later(
      cluster, *cidrs, &pods, {[] { return kMonoNow; }, [this] { return now_ + std::chrono::seconds(60); }});
  EXPECT_EQ(later.resolve_at(ip("10.10.129.2"), mono_at(t0 + std::chrono::seconds(50))).name,
            "default/cache-0");

  // An address no pod holds in a node's pod CIDR, a node, and the lab-file behaviour.
  const inventory::Resolver again(cluster, *cidrs, &pods, clocks);
  EXPECT_EQ(again.resolve_at(ip("10.10.130.77"), kMonoNow).name, "unknown pod");
  EXPECT_EQ(again.resolve_at(ip("10.0.0.3"), kMonoNow).name, "node2");
  const inventory::Resolver plain(cluster, *cidrs);
  EXPECT_EQ(plain.resolve_at(ip("10.10.129.2"), mono_at(t0)).name, "default/cache-0")
      << "without a history, time does not matter";
}

TEST_F(KubeCluster, AnAddressTwoLivePodsClaimIsAmbiguousNeverGuessed) {
  kube::Pod twin = db_;
  twin.uid = "twin-uid";
  twin.name = "db-1";
  pods_.apply(change(kube::ChangeType::Added, twin), now_);
  const auto cluster =
      std::make_shared<const model::Cluster>(inventory::cluster_from_kube(nodes_, pods_, "", {}));
  auto cidrs = inventory::CidrTable::build(*cluster);
  ASSERT_TRUE(cidrs);
  const inventory::Resolver resolver(cluster, *cidrs, &pods_);
  const auto e = resolver.resolve(ip("10.10.130.2"));
  EXPECT_EQ(e.kind, flows::EndpointKind::Pod);
  EXPECT_EQ(e.pod, nullptr);
  EXPECT_EQ(e.name, "ambiguous: default/db-0 | default/db-1");
  EXPECT_EQ(e.candidates, (std::vector<std::string>{"default/db-0", "default/db-1"}));
  EXPECT_EQ(e.node, "node2");
}

// ---------------------------------------------------------------------------- names from the API

TEST_F(KubeCluster, NamesFromTheApiAreHeldToTheInventorysRules) {
  EXPECT_TRUE(inventory::check_api_names(change(kube::ChangeType::Added, web_)));
  EXPECT_TRUE(inventory::check_api_names(change(kube::ChangeType::Added, node1_)));
  EXPECT_TRUE(inventory::check_api_names(kube::Change{})) << "not an object: nothing to check";

  kube::Pod retitle = web_;
  retitle.name = "web\x1b]0;owned\x07";
  const auto r = inventory::check_api_names(change(kube::ChangeType::Added, retitle));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find('\x1b'), std::string::npos) << "the line itself is printable";
  EXPECT_NE(r.error().message.find("pod default/web\\x1b]0;owned\\x07: metadata.name"), std::string::npos)
      << r.error().message;

  kube::Pod slash = web_;
  slash.ns = "a/b";
  EXPECT_FALSE(inventory::check_api_names(change(kube::ChangeType::Modified, slash)));
  kube::Pod node_name = web_;
  node_name.node = "node1\n";
  EXPECT_FALSE(inventory::check_api_names(change(kube::ChangeType::Added, node_name)));
  kube::Pod container = db_;
  container.containers[0].name = "db\r";
  const auto c = inventory::check_api_names(change(kube::ChangeType::Added, container));
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("status.containerStatuses[].name"), std::string::npos)
      << c.error().message;
  kube::Pod id = db_;
  id.containers[0].id = "../../x";
  EXPECT_FALSE(inventory::check_api_names(change(kube::ChangeType::Added, id)));
  kube::Node node = node1_;
  node.name = "..";
  EXPECT_FALSE(inventory::check_api_names(change(kube::ChangeType::Deleted, node)));
}

// ---------------------------------------------------------------------------- connecting

namespace {

using kube::testing::FakeState;
using kube::testing::FakeTransport;

std::string list_body(const char* kind, const json& items, const char* rv) {
  return json{{"kind", kind}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", rv}}}, {"items", items}}
      .dump();
}

/// A server with one list of `kind` holding `items`, then a quiet watch.
std::shared_ptr<FakeState> listing(const char* kind, const json& items = json::array()) {
  auto state = std::make_shared<FakeState>();
  state->script.push_back(kube::testing::ok({list_body(kind, items, "10")}));
  return state;
}

inventory::KubeSourceOptions fake_options(const std::shared_ptr<FakeState>& pods,
                                          const std::shared_ptr<FakeState>& nodes,
                                          std::shared_ptr<FakeState> services = nullptr,
                                          std::shared_ptr<FakeState> slices = nullptr) {
  inventory::KubeSourceOptions o;
  if (!services) services = listing("ServiceList");
  if (!slices) slices = listing("EndpointSliceList");
  auto made = std::make_shared<std::size_t>(0);
  // ClusterWatch makes the transports in kResources order: pods, nodes, services, endpointslices.
  o.transports = [=]() -> std::unique_ptr<kube::HttpTransport> {
    const std::shared_ptr<FakeState> states[] = {pods, nodes, services, slices};
    return std::make_unique<FakeTransport>(states[(*made)++ % 4]);
  };
  o.node = "node1";
  o.start_timeout = std::chrono::milliseconds(3000);
  o.informer.backoff_initial = std::chrono::milliseconds(10);
  o.informer.backoff_max = std::chrono::milliseconds(20);
  return o;
}

kube::ClusterConfig fake_config() {
  kube::ClusterConfig c;
  c.server = "https://10.0.0.1:6443";
  c.source = "kubeconfig /k";
  return c;
}

}  // namespace

TEST(KubeSourceConnect, ListsPodsAndNodesThenFollowsTheirChanges) {
  auto pods = std::make_shared<FakeState>();
  auto nodes = std::make_shared<FakeState>();
  pods->script.push_back(
      kube::testing::ok({list_body("PodList", json::array({read_json(kData / "pod.json")}), "10")}));
  nodes->script.push_back(
      kube::testing::ok({list_body("NodeList", json::array({read_json(kData / "node.json")}), "10")}));
  auto source = inventory::KubeSource::connect(fake_options(pods, nodes), fake_config());
  ASSERT_TRUE(source) << source.error().to_string();
  EXPECT_EQ((*source)->own_node(), "node1");
  EXPECT_EQ((*source)->description(), "the Kubernetes API at https://10.0.0.1:6443 (kubeconfig /k)");
  const model::Cluster c = (*source)->cluster();
  ASSERT_EQ(c.pods.size(), 1u);
  EXPECT_EQ(c.pods[0].full_name(), "default/web-7d4b9-x2k4q");
  EXPECT_TRUE((*source)->healthy());
}

TEST(KubeSourceConnect, ListsServicesAndEndpointSlicesIntoTheClustersServices) {
  auto pods = listing("PodList", json::array({read_json(kData / "pod.json")}));
  auto nodes = listing("NodeList", json::array({read_json(kData / "node.json")}));
  auto services = listing("ServiceList", json::array({read_json(kData / "service.json")}));
  auto slices = listing("EndpointSliceList", json::array({read_json(kData / "endpointslice.json")}));
  auto source = inventory::KubeSource::connect(fake_options(pods, nodes, services, slices), fake_config());
  ASSERT_TRUE(source) << source.error().to_string();
  const model::Cluster c = (*source)->cluster();
  ASSERT_EQ(c.services.size(), 1u);
  EXPECT_EQ(c.services[0].full_name(), "default/web");
  EXPECT_EQ(c.find_service(*model::IpAddress::parse("10.96.0.10"), 80), &c.services[0]);
  ASSERT_EQ(c.services[0].backends.size(), 2u);
  EXPECT_EQ(c.services[0].backends[0].pod, "default/web-7d4b9-x2k4q");
  std::lock_guard lock(slices->mutex);
  ASSERT_FALSE(slices->targets.empty());
  EXPECT_EQ(slices->targets[0].rfind("/apis/discovery.k8s.io/v1/endpointslices?limit=", 0), 0u)
      << slices->targets[0];
}

TEST(KubeSourceConnect, APodWhoseNameBreaksTheRulesIsLeftOut) {
  auto pods = std::make_shared<FakeState>();
  auto nodes = std::make_shared<FakeState>();
  json bad = read_json(kData / "pod.json");
  bad["metadata"]["uid"] = "bad-uid";
  bad["metadata"]["name"] = "web\x1b[2J";
  bad["status"]["podIP"] = "10.10.129.3";
  bad["status"]["podIPs"] = json::array({{{"ip", "10.10.129.3"}}});
  pods->script.push_back(
      kube::testing::ok({list_body("PodList", json::array({read_json(kData / "pod.json"), bad}), "10")}));
  nodes->script.push_back(
      kube::testing::ok({list_body("NodeList", json::array({read_json(kData / "node.json")}), "10")}));
  auto source = inventory::KubeSource::connect(fake_options(pods, nodes), fake_config());
  ASSERT_TRUE(source) << source.error().to_string();
  const model::Cluster c = (*source)->cluster();
  ASSERT_EQ(c.pods.size(), 1u);
  EXPECT_EQ(c.pods[0].full_name(), "default/web-7d4b9-x2k4q");
  EXPECT_EQ((*source)->pods().find_uid("bad-uid"), nullptr) << "not in the history either";
}

TEST(KubeSourceConnect, ForbiddenFailsAtOnceWithTheRbacHint) {
  auto pods = std::make_shared<FakeState>();
  auto nodes = std::make_shared<FakeState>();
  pods->script.push_back(kube::testing::status(
      403,
      R"({"kind":"Status","code":403,"message":"pods is forbidden: User \"system:serviceaccount:x:y\" cannot list resource \"pods\""})"));
  nodes->script.push_back(kube::testing::ok({list_body("NodeList", json::array(), "1")}));
  auto o = fake_options(pods, nodes);
  o.start_timeout = std::chrono::hours(1);  // a 403 must not wait for it
  auto source = inventory::KubeSource::connect(o, fake_config());
  ASSERT_FALSE(source);
  EXPECT_EQ(
      source.error().message.rfind(
          "pods is forbidden: the service account needs get, list and watch on pods, nodes, services and "
          "endpointslices (discovery.k8s.io) (see docs/kubernetes.md); the API server said: pods is "
          "forbidden",
          0),
      0u)
      << source.error().message;
}

TEST(KubeSourceConnect, AnUnreachableServerIsRetriedUntilTheStartTimeout) {
  auto pods = std::make_shared<FakeState>();
  auto nodes = std::make_shared<FakeState>();
  for (int i = 0; i < 200; ++i) {
    pods->script.push_back(kube::testing::failure(kube::TransportFailure::Unreachable, "Connection refused"));
  }
  nodes->script.push_back(kube::testing::ok({list_body("NodeList", json::array(), "1")}));
  auto o = fake_options(pods, nodes);
  o.start_timeout = std::chrono::milliseconds(300);
  auto source = inventory::KubeSource::connect(o, fake_config());
  ASSERT_FALSE(source);
  EXPECT_EQ(
      source.error().message,
      "cannot reach the Kubernetes API at https://10.0.0.1:6443: Connection refused (retried for 0.3 s)");
  std::lock_guard lock(pods->mutex);
  EXPECT_GE(pods->targets.size(), 2u) << "retried";
}

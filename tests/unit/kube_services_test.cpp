// v1 Services and discovery.k8s.io/v1 EndpointSlices as the API server sends them, their
// join into the model's Services (ServiceIndex), and the Kubernetes source's Services equal
// to what the lab inventory path builds for the same Service.
#include <gtest/gtest.h>

#include <netinet/in.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "inventory/kube_source.hpp"
#include "inventory/lab_inventory.hpp"
#include "kube/objects.hpp"
#include "kube/pod_index.hpp"

using nlohmann::json;
using namespace podpath;
using namespace podpath::kube;

namespace {

json load(const char* name) {
  std::ifstream in(std::string(PODPATH_TEST_DATA) + "/" + name);
  return json::parse(in);
}

json service_json() { return load("kube/service.json"); }
json slice_json() { return load("kube/endpointslice.json"); }

Change change(ChangeType type, const json& object) {
  Change c;
  c.type = type;
  if (object.value("kind", "") == "Service") {
    c.resource = Resource::Services;
    auto s = parse_service(object);
    EXPECT_TRUE(s) << s.error().message;
    c.object = *s;
  } else {
    c.resource = Resource::EndpointSlices;
    auto s = parse_endpointslice(object);
    EXPECT_TRUE(s) << s.error().message;
    c.object = *s;
  }
  return c;
}

std::vector<std::string> backend_ips(const model::Service& s) {
  std::vector<std::string> out;
  for (const auto& b : s.backends) out.push_back(b.ip.to_string());
  return out;
}

}  // namespace

TEST(KubeServices, ReadsAClusterIpService) {
  const auto svc = parse_service(service_json());
  ASSERT_TRUE(svc) << svc.error().message;
  EXPECT_EQ(svc->full_name(), "default/web");
  EXPECT_EQ(svc->uid, "7c1e0b52-3d6f-4a11-9a1e-2f0c9b6f1a01");
  EXPECT_EQ(svc->type, "ClusterIP");
  ASSERT_TRUE(svc->cluster_ip);
  EXPECT_EQ(svc->cluster_ip->to_string(), "10.96.0.10");
  EXPECT_TRUE(svc->has_cluster_ip());
  ASSERT_EQ(svc->ports.size(), 1u);
  EXPECT_EQ(svc->ports[0], (ServicePort{"http", "TCP", 80, 8080, ""}));
}

TEST(KubeServices, TargetPortByNameByNumberOrAbsent) {
  json j = service_json();
  j["spec"]["ports"] = json::array({{{"name", "http"}, {"port", 80}, {"targetPort", "web-http"}},
                                    {{"name", "dns"}, {"protocol", "UDP"}, {"port", 53}},
                                    {{"name", "m"}, {"port", 9090}, {"targetPort", 9100}}});
  const auto svc = parse_service(j);
  ASSERT_TRUE(svc) << svc.error().message;
  ASSERT_EQ(svc->ports.size(), 3u);
  EXPECT_EQ(svc->ports[0], (ServicePort{"http", "TCP", 80, 0, "web-http"})) << "protocol defaults to TCP";
  EXPECT_EQ(svc->ports[1], (ServicePort{"dns", "UDP", 53, 53, ""})) << "no targetPort: the port";
  EXPECT_EQ(svc->ports[2], (ServicePort{"m", "TCP", 9090, 9100, ""}));
}

TEST(KubeServices, HeadlessAndExternalNameHaveNoClusterIp) {
  json headless = service_json();
  headless["spec"]["clusterIP"] = "None";
  headless["spec"]["clusterIPs"] = json::array({"None"});
  const auto h = parse_service(headless);
  ASSERT_TRUE(h) << h.error().message;
  EXPECT_FALSE(h->has_cluster_ip());

  json external = service_json();
  external["spec"] = {{"type", "ExternalName"}, {"externalName", "db.example.com"}};
  const auto e = parse_service(external);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_FALSE(e->has_cluster_ip());

  ServiceIndex index;
  index.apply(change(ChangeType::Added, headless));
  json ext = external;
  ext["metadata"]["uid"] = "other";
  index.apply(change(ChangeType::Added, ext));
  index.apply(change(ChangeType::Added, slice_json()));
  EXPECT_EQ(index.services(), 2u);
  EXPECT_TRUE(index.model_services().empty()) << "kube-proxy gives neither a ClusterIP";
}

TEST(KubeServices, MalformedServicesAndSlicesAreErrorsNamingTheField) {
  json j = service_json();
  j["spec"]["clusterIP"] = "10.96.0.300";
  auto s = parse_service(j);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "service default/web: spec.clusterIP is not an IP address: '10.96.0.300'");
  j = service_json();
  j["spec"]["ports"][0]["port"] = 70000;
  s = parse_service(j);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "service default/web: spec.ports[0].port is 70000, not a port (1-65535)");
  j = service_json();
  j["spec"]["ports"][0]["targetPort"] = json::array();
  EXPECT_FALSE(parse_service(j));
  EXPECT_FALSE(parse_service(json::array()));

  json e = slice_json();
  e["endpoints"][1]["addresses"][0] = "db";
  auto es = parse_endpointslice(e);
  ASSERT_FALSE(es);
  EXPECT_EQ(es.error().message,
            "endpointslice default/web-7c1e0: endpoints[1].addresses[0] is not an IP address: 'db'");
  e = slice_json();
  e["endpoints"][0]["conditions"]["ready"] = "yes";
  es = parse_endpointslice(e);
  ASSERT_FALSE(es);
  EXPECT_EQ(es.error().message,
            "endpointslice default/web-7c1e0: endpoints[0].conditions.ready must be true or false");
  e = slice_json();
  e["ports"] = json::object();
  EXPECT_FALSE(parse_endpointslice(e));
}

TEST(KubeServices, ReadsAnEndpointSlice) {
  const auto slice = parse_endpointslice(slice_json());
  ASSERT_TRUE(slice) << slice.error().message;
  EXPECT_EQ(slice->service, "web");
  EXPECT_EQ(slice->address_type, "IPv4");
  ASSERT_EQ(slice->endpoints.size(), 2u);
  EXPECT_EQ(slice->endpoints[0].addresses[0].to_string(), "10.10.129.2");
  EXPECT_TRUE(slice->endpoints[0].ready);
  EXPECT_EQ(slice->endpoints[0].node, "node1");
  EXPECT_EQ(slice->endpoints[0].pod, "default/web-7d4b9-x2k4q");
  ASSERT_EQ(slice->ports.size(), 1u);
  EXPECT_EQ(slice->ports[0], (EndpointPort{"http", "TCP", 8080}));
}

TEST(KubeServices, OnlyReadyEndpointsAreBackendsAndAbsentCountsAsReady) {
  json e = slice_json();
  e["endpoints"][0]["conditions"] = {{"ready", false}, {"serving", true}, {"terminating", true}};
  e["endpoints"][1].erase("conditions");
  e["endpoints"].push_back({{"addresses", {"10.10.131.2"}}, {"conditions", json::object()}});
  ServiceIndex index;
  index.apply(change(ChangeType::Added, service_json()));
  index.apply(change(ChangeType::Added, e));
  const auto services = index.model_services();
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(backend_ips(services[0]), (std::vector<std::string>{"10.10.130.2", "10.10.131.2"}));
  EXPECT_EQ(services[0].backends[1].pod, "") << "no targetRef: no pod";
}

TEST(KubeServices, APortJoinsTheSlicePortOfItsNameAndProtocol) {
  json svc = service_json();
  svc["spec"]["ports"] = json::array({{{"name", "http"}, {"port", 80}, {"targetPort", "web-http"}},
                                      {{"name", "metrics"}, {"port", 9090}, {"targetPort", 9100}},
                                      {{"name", "dns"}, {"protocol", "UDP"}, {"port", 53}}});
  json e = slice_json();
  e["ports"] = json::array({{{"name", "metrics"}, {"protocol", "TCP"}, {"port", 9100}},
                            {{"name", "http"}, {"protocol", "TCP"}, {"port", 8081}}});
  ServiceIndex index;
  index.apply(change(ChangeType::Added, svc));
  index.apply(change(ChangeType::Added, e));
  const auto services = index.model_services();
  ASSERT_EQ(services.size(), 3u) << "one per port";
  EXPECT_EQ(services[0].port, 53);
  EXPECT_EQ(services[0].proto, IPPROTO_UDP);
  EXPECT_TRUE(services[0].backends.empty()) << "the slice has no UDP port named dns";
  EXPECT_EQ(services[0].target_port, 53);
  EXPECT_EQ(services[1].port, 80);
  EXPECT_EQ(services[1].target_port, 8081) << "the named targetPort, resolved by the slice";
  EXPECT_EQ(backend_ips(services[1]).size(), 2u);
  EXPECT_EQ(services[2].port, 9090);
  EXPECT_EQ(services[2].target_port, 9100);
  EXPECT_NE(services[1].rule, services[2].rule) << "a chain per port";
  EXPECT_NE(services[1].backends[0].rule, services[2].backends[0].rule);
}

TEST(KubeServices, ASliceWhoseServiceArrivesLaterWaitsForIt) {
  ServiceIndex index;
  index.apply(change(ChangeType::Added, slice_json()));
  EXPECT_TRUE(index.model_services().empty());
  index.apply(change(ChangeType::Added, service_json()));
  const auto services = index.model_services();
  ASSERT_EQ(services.size(), 1u);
  EXPECT_EQ(backend_ips(services[0]), (std::vector<std::string>{"10.10.129.2", "10.10.130.2"}));
}

TEST(KubeServices, DeletingTheSliceOrTheServiceTakesItOut) {
  ServiceIndex index;
  index.apply(change(ChangeType::Added, service_json()));
  index.apply(change(ChangeType::Added, slice_json()));
  index.apply(change(ChangeType::Deleted, slice_json()));
  auto services = index.model_services();
  ASSERT_EQ(services.size(), 1u);
  EXPECT_TRUE(services[0].backends.empty()) << "a Service without endpoints: kube-proxy's REJECT";
  EXPECT_EQ(services[0].target_port, 8080);
  index.apply(change(ChangeType::Added, slice_json()));
  index.apply(change(ChangeType::Deleted, service_json()));
  EXPECT_TRUE(index.model_services().empty());
  EXPECT_EQ(index.slices(), 1u) << "kept for a Service of that name to come";
}

TEST(KubeServices, ASliceOfAnotherServiceOrNamespaceIsNotJoined) {
  json other = slice_json();
  other["metadata"]["uid"] = "other";
  other["metadata"]["labels"]["kubernetes.io/service-name"] = "db";
  json elsewhere = slice_json();
  elsewhere["metadata"]["uid"] = "elsewhere";
  elsewhere["metadata"]["namespace"] = "prod";
  ServiceIndex index;
  index.apply(change(ChangeType::Added, service_json()));
  index.apply(change(ChangeType::Added, other));
  index.apply(change(ChangeType::Added, elsewhere));
  const auto services = index.model_services();
  ASSERT_EQ(services.size(), 1u);
  EXPECT_TRUE(services[0].backends.empty());
}

TEST(KubeServices, KubeProxyChainNames) {
  // The names kube-proxy (iptables mode) gives these chains, as scripts/lab writes them too.
  const auto svc = parse_service(service_json());
  ASSERT_TRUE(svc);
  EXPECT_EQ(kube_proxy_service_chain(*svc, svc->ports[0]), "KUBE-SVC-CDGGSHYLG3RE2FKL");
  EXPECT_EQ(kube_proxy_endpoint_chain(*svc, svc->ports[0], *model::IpAddress::parse("10.10.129.2"), 8080),
            "KUBE-SEP-MEPOT2LTMZIBUOBL");
}

TEST(KubeServices, TheSnapshotHoldsWhatTheLabInventoryPathBuilds) {
  // The Service as scripts/lab service add records it, and as the lab's API server serves it.
  json inventory = load("lab_inventory.json");
  inventory["service_cidr"] = "10.96.0.0/12";
  inventory["services"] = json::array({{{"namespace", "default"},
                                        {"name", "web"},
                                        {"cluster_ip", "10.96.0.10"},
                                        {"protocol", "TCP"},
                                        {"port", 80},
                                        {"target_port", 8080},
                                        {"port_name", "http"},
                                        {"svc_chain", "KUBE-SVC-CDGGSHYLG3RE2FKL"},
                                        {"backends",
                                         {{{"pod", "default/web-7d4b9-x2k4q"},
                                           {"ip", "10.10.129.2"},
                                           {"node", "node1"},
                                           {"sep_chain", "KUBE-SEP-MEPOT2LTMZIBUOBL"}},
                                          {{"pod", "default/db-0"},
                                           {"ip", "10.10.130.2"},
                                           {"node", "node2"},
                                           {"sep_chain", "KUBE-SEP-NVAKNTYZ6NYCHKOS"}}}}}});
  const auto lab = inventory::parse_lab_inventory(inventory.dump());
  ASSERT_TRUE(lab) << lab.error().to_string();

  ServiceIndex services;
  services.apply(change(ChangeType::Added, service_json()));
  services.apply(change(ChangeType::Added, slice_json()));
  const model::Cluster api = inventory::cluster_from_kube(NodeIndex{}, PodIndex{}, "", {}, services);
  EXPECT_EQ(api.services, lab->services);
}

TEST(KubeServices, NamesThatBreakTheRulesAreRefused) {
  json e = slice_json();
  e["endpoints"][0]["nodeName"] = "node\x1b[2J";
  const auto r = inventory::check_api_names(change(ChangeType::Added, e));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("endpoints[].nodeName"), std::string::npos) << r.error().message;
  e = slice_json();
  e["endpoints"][1]["targetRef"]["name"] = "a\nb";
  EXPECT_FALSE(inventory::check_api_names(change(ChangeType::Added, e)));
  json s = service_json();
  s["metadata"]["name"] = "";
  EXPECT_FALSE(inventory::check_api_names(change(ChangeType::Added, s)));
  EXPECT_TRUE(inventory::check_api_names(change(ChangeType::Added, service_json())));
  EXPECT_TRUE(inventory::check_api_names(change(ChangeType::Added, slice_json())));
}

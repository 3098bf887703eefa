// v1 Pod and Node objects as the API server sends them, reduced to what podpath uses.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "kube/objects.hpp"
#include "kube/watch_stream.hpp"

using nlohmann::json;
using namespace podpath::kube;

namespace {

json load(const char* name) {
  std::ifstream in(std::string(PODPATH_TEST_DATA) + "/kube/" + name);
  return json::parse(in);
}

}  // namespace

TEST(KubeObjects, ReadsARealPod) {
  const auto pod = parse_pod(load("pod.json"));
  ASSERT_TRUE(pod) << pod.error().message;
  EXPECT_EQ(pod->full_name(), "default/web-7d4b9-x2k4q");
  EXPECT_EQ(pod->uid, "2f0c7d0e-6c1b-4f3e-9a55-0b7d2c1e9f10");
  EXPECT_EQ(pod->resource_version, "48213");
  EXPECT_EQ(pod->created, *parse_rfc3339("2026-11-26T03:30:00Z"));
  EXPECT_EQ(pod->labels.at("app"), "web");
  EXPECT_EQ(pod->node, "node1");
  EXPECT_EQ(pod->phase, "Running");
  EXPECT_FALSE(pod->host_network);
  EXPECT_TRUE(pod->claims_ips());
  ASSERT_EQ(pod->ips.size(), 2u);
  EXPECT_EQ(pod->ips[0].to_string(), "10.10.129.2");
  EXPECT_EQ(pod->ips[1].to_string(), "fd00:10:129::2");
  EXPECT_EQ(pod->host_ip->to_string(), "10.0.0.2");
  EXPECT_EQ(pod->spec_containers, (std::vector<std::string>{"app", "sidecar"}));
  ASSERT_EQ(pod->containers.size(), 3u);
  EXPECT_EQ(pod->containers[0].name, "app");
  EXPECT_EQ(pod->containers[0].runtime, "containerd");
  EXPECT_EQ(pod->containers[0].id, "bb00000000000000000000000000000000000000000000000000000000000001");
  EXPECT_EQ(pod->containers[0].restarts, 2);
  EXPECT_EQ(pod->containers[1].runtime, "cri-o");
  EXPECT_FALSE(pod->containers[1].ready);
  EXPECT_TRUE(pod->containers[2].init);

  const auto m = to_model_pod(*pod);
  EXPECT_EQ(m.full_name(), "default/web-7d4b9-x2k4q");
  EXPECT_EQ(m.ip.to_string(), "10.10.129.2");
  ASSERT_EQ(m.containers.size(), 3u);
  EXPECT_EQ(m.containers[1].id, "bb00000000000000000000000000000000000000000000000000000000000002");
}

TEST(KubeObjects, PodIpFallsBackToPodIpAndHostNetworkIsKept) {
  json j = load("pod.json");
  j["status"].erase("podIPs");
  j["spec"]["hostNetwork"] = true;
  const auto pod = parse_pod(j);
  ASSERT_TRUE(pod) << pod.error().message;
  ASSERT_EQ(pod->ips.size(), 1u);
  EXPECT_EQ(pod->ips[0].to_string(), "10.10.129.2");
  EXPECT_FALSE(pod->claims_ips());
}

TEST(KubeObjects, APendingPodHasNoAddressYet) {
  json j = load("pod.json");
  j["status"] = {{"phase", "Pending"}};
  j["spec"].erase("nodeName");
  const auto pod = parse_pod(j);
  ASSERT_TRUE(pod) << pod.error().message;
  EXPECT_TRUE(pod->ips.empty());
  EXPECT_TRUE(pod->node.empty());
  EXPECT_TRUE(pod->containers.empty());
}

TEST(KubeObjects, BadFieldsAreNamed) {
  json bad_ip = load("pod.json");
  bad_ip["status"]["podIPs"][1]["ip"] = "fd00::zz";
  auto r = parse_pod(bad_ip);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "pod default/web-7d4b9-x2k4q: status.podIPs[1].ip is not an IP address: 'fd00::zz'");

  json no_uid = load("pod.json");
  no_uid["metadata"].erase("uid");
  r = parse_pod(no_uid);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "pod default/web-7d4b9-x2k4q: metadata.uid is missing");

  json bad_time = load("pod.json");
  bad_time["metadata"]["creationTimestamp"] = "yesterday";
  EXPECT_FALSE(parse_pod(bad_time));
  EXPECT_FALSE(parse_pod(json::array()));
}

TEST(KubeObjects, ReadsARealNode) {
  const auto node = parse_node(load("node.json"));
  ASSERT_TRUE(node) << node.error().message;
  EXPECT_EQ(node->name, "node1");
  EXPECT_EQ(node->internal_ip->to_string(), "10.0.0.2");
  ASSERT_EQ(node->pod_cidrs.size(), 2u);
  EXPECT_EQ(node->pod_cidrs[1].to_string(), "fd00:10:129::/64");
  EXPECT_TRUE(node->ready);
  const auto m = to_model_node(*node);
  EXPECT_EQ(m.underlay_ip.to_string(), "10.0.0.2");
  EXPECT_EQ(m.pod_cidr.to_string(), "10.10.129.0/24");

  json old = load("node.json");
  old["spec"].erase("podCIDRs");
  old["status"]["conditions"][1]["status"] = "Unknown";
  const auto n2 = parse_node(old);
  ASSERT_TRUE(n2) << n2.error().message;
  ASSERT_EQ(n2->pod_cidrs.size(), 1u);
  EXPECT_FALSE(n2->ready);

  json bad = load("node.json");
  bad["spec"]["podCIDRs"] = {"10.10.129.0"};
  EXPECT_FALSE(parse_node(bad));
}

TEST(KubeObjects, Rfc3339) {
  const auto t = parse_rfc3339("1970-01-02T00:00:01Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count(), 86401);
  EXPECT_EQ(*parse_rfc3339("1970-01-02T01:00:01+01:00"), *t);
  EXPECT_EQ(*parse_rfc3339("1970-01-02T00:00:01.5Z") - *t, std::chrono::milliseconds(500));
  for (const char* bad :
       {"", "1970-01-02", "1970-01-02T00:00:01", "1970-13-02T00:00:01Z", "1970-01-02T00:00:01Zx",
        "1970-01-02T00:00:01.Z", "1970-01-02 00:00:01Z", "4052-11-26T03:30:00Z"}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  }
}

TEST(KubeWatchStream, ParsesEveryEventType) {
  auto e = parse_watch_event(R"({"type":"ADDED","object":{"metadata":{"resourceVersion":"7","uid":"u"}}})");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->type, EventType::Added);
  EXPECT_EQ(e->resource_version, "7");
  e = parse_watch_event(R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"9"}}})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, EventType::Bookmark);
  EXPECT_EQ(e->resource_version, "9");
  e = parse_watch_event(R"({"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old"}})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, EventType::Error);
  EXPECT_EQ(e->error_code, 410);
  EXPECT_EQ(e->error_message, "too old");
  for (const char* bad : {"", "[]", "{", R"({"object":{}})", R"({"type":"GONE","object":{}})",
                          R"({"type":"ADDED"})", R"({"type":"DELETED","object":{"metadata":{}}})"}) {
    EXPECT_FALSE(parse_watch_event(bad)) << bad;
  }
}

TEST(KubeWatchStream, SplitterReassemblesLinesAndBoundsThem) {
  LineSplitter lines(16);
  std::vector<std::string> got;
  const auto collect = [&](std::string_view l) {
    got.emplace_back(l);
    return true;
  };
  ASSERT_TRUE(lines.feed("ab", collect));
  ASSERT_TRUE(lines.feed("c\n\n  \r\nde", collect));
  EXPECT_EQ(lines.pending(), 2u);
  ASSERT_TRUE(lines.feed("f\n", collect));
  EXPECT_EQ(got, (std::vector<std::string>{"abc", "def"}));
  EXPECT_EQ(lines.pending(), 0u);
  EXPECT_FALSE(lines.feed("0123456789abcdefXYZ", collect));
  LineSplitter stop;
  int calls = 0;
  ASSERT_TRUE(stop.feed("a\nb\nc\n", [&](std::string_view) { return ++calls < 2; }));
  EXPECT_EQ(calls, 2);
}

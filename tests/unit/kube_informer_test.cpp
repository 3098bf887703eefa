// The List+Watch informer on recorded responses: paging, a watch body split at every byte
// boundary, bookmarks, 410 as HTTP status and as an ERROR event (the relist emits the
// deletes the watch missed), errors reported once, and the thread handing changes over.
#include <gtest/gtest.h>
#include <poll.h>

#include <nlohmann/json.hpp>

#include "kube/informer.hpp"
#include "kube_fake_transport.hpp"

using nlohmann::json;
using podpath::kube::Change;
using podpath::kube::ChangeQueue;
using podpath::kube::ChangeType;
using podpath::kube::Informer;
using podpath::kube::InformerOptions;
using podpath::kube::Pod;
using podpath::kube::Resource;
using podpath::kube::TransportFailure;
using namespace podpath::kube::testing;

namespace {

json pod_json(const std::string& uid, const std::string& name, const std::string& ip, const std::string& rv) {
  return {{"metadata",
           {{"name", name},
            {"namespace", "default"},
            {"uid", uid},
            {"resourceVersion", rv},
            {"creationTimestamp", "2026-11-26T03:30:00Z"}}},
          {"spec", {{"nodeName", "node1"}, {"containers", {{{"name", "app"}}}}}},
          {"status", {{"phase", "Running"}, {"podIP", ip}, {"podIPs", {{{"ip", ip}}}}}}};
}

std::string list_body(const std::vector<json>& items, const std::string& rv, const std::string& cont = "") {
  json list = {
      {"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", rv}}}, {"items", items}};
  if (!cont.empty()) list["metadata"]["continue"] = cont;
  return list.dump();
}

std::string event(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

std::string bookmark(const std::string& rv) {
  return event("BOOKMARK", {{"kind", "Pod"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", rv}}}});
}

std::string gone_event() {
  return event("ERROR", {{"kind", "Status"},
                         {"apiVersion", "v1"},
                         {"status", "Failure"},
                         {"message", "too old resource version: 100 (150)"},
                         {"reason", "Expired"},
                         {"code", 410}});
}

/// "ADDED default/a" per change; Synced and Health as their type.
std::vector<std::string> summary(const std::vector<Change>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) {
    const char* type = c.type == ChangeType::Added      ? "ADDED"
                       : c.type == ChangeType::Modified ? "MODIFIED"
                       : c.type == ChangeType::Deleted  ? "DELETED"
                       : c.type == ChangeType::Synced   ? "SYNCED"
                                                        : "HEALTH";
    std::string line = type;
    if (const auto* p = std::get_if<Pod>(&c.object)) line += " " + p->full_name();
    out.push_back(line);
  }
  return out;
}

struct Harness {
  std::shared_ptr<FakeState> state = std::make_shared<FakeState>();
  ChangeQueue queue;
  Informer informer;

  explicit Harness(InformerOptions options = small_options())
      : informer(Resource::Pods, std::make_unique<FakeTransport>(state), queue, std::move(options)) {}

  static InformerOptions small_options() {
    InformerOptions o;
    o.server = "https://10.96.0.1:443";
    o.page_size = 2;
    o.seed = 42;
    o.backoff_initial = std::chrono::milliseconds(1);
    o.backoff_max = std::chrono::milliseconds(4);
    return o;
  }
  void script(Reply r) { state->script.push_back(std::move(r)); }
  std::vector<std::string> changes() { return summary(queue.drain()); }
  std::vector<std::string> targets() { return state->targets; }
};

const json kA = pod_json("uid-a", "a", "10.10.129.2", "101");
const json kB = pod_json("uid-b", "b", "10.10.129.3", "102");
const json kC = pod_json("uid-c", "c", "10.10.129.4", "103");

}  // namespace

TEST(KubeInformer, ListsInPagesWithAnEncodedContinueToken) {
  Harness h;
  h.script(ok({list_body({kA, kB}, "150", "tok+en/=")}));
  h.script(ok({list_body({kC}, "150")}));
  EXPECT_EQ(h.informer.list(), Informer::Next::Watch);
  EXPECT_EQ(h.targets(), (std::vector<std::string>{"/api/v1/pods?limit=2",
                                                   "/api/v1/pods?limit=2&continue=tok%2Ben%2F%3D"}));
  EXPECT_EQ(h.changes(),
            (std::vector<std::string>{"ADDED default/a", "ADDED default/b", "ADDED default/c", "SYNCED"}));
  const auto health = h.informer.health();
  EXPECT_TRUE(health.synced);
  EXPECT_TRUE(health.healthy);
  EXPECT_EQ(health.resource_version, "150");
  EXPECT_EQ(health.objects, 3u);
}

TEST(KubeInformer, AnExpiredContinueTokenRestartsTheList) {
  Harness h;
  h.script(ok({list_body({kA, kB}, "150", "t1")}));
  h.script(status(410, R"({"kind":"Status","code":410,"reason":"Expired","message":"continue expired"})"));
  h.script(ok({list_body({kA}, "160", "t2")}));
  h.script(ok({list_body({kC}, "160")}));
  EXPECT_EQ(h.informer.list(), Informer::Next::Watch);
  EXPECT_EQ(h.changes(), (std::vector<std::string>{"ADDED default/a", "ADDED default/c", "SYNCED"}));
  EXPECT_EQ(h.informer.health().resource_version, "160");
}

TEST(KubeInformer, WatchesFromTheListVersionWithBookmarksAndAJitteredTimeout) {
  Harness h;
  h.script(ok({list_body({kA}, "150")}));
  h.script(ok({}));
  ASSERT_EQ(h.informer.list(), Informer::Next::Watch);
  EXPECT_EQ(h.informer.watch(), Informer::Next::Watch);
  const std::string target = h.targets().at(1);
  EXPECT_EQ(
      target.rfind("/api/v1/pods?watch=1&resourceVersion=150&allowWatchBookmarks=true&timeoutSeconds=", 0),
      0u)
      << target;
  const int seconds = std::stoi(target.substr(target.rfind('=') + 1));
  EXPECT_GE(seconds, 300);
  EXPECT_LT(seconds, 600);
}

TEST(KubeInformer, WatchTimeoutsAndBackoffsStayInTheirRanges) {
  Harness h;
  bool differ = false;
  const auto first = h.informer.next_watch_timeout();
  for (int i = 0; i < 200; ++i) {
    const auto t = h.informer.next_watch_timeout();
    EXPECT_GE(t.count(), 300);
    EXPECT_LT(t.count(), 600);
    differ = differ || t != first;
    const auto b = h.informer.backoff(static_cast<unsigned>(i % 8));
    EXPECT_GE(b.count(), 1);
    EXPECT_LE(b.count(), 4);
  }
  EXPECT_TRUE(differ) << "timeoutSeconds is not jittered";
}

TEST(KubeInformer, AWatchBodySplitAtEveryByteBoundaryGivesTheSameChanges) {
  const std::string body = event("ADDED", kB) + bookmark("170") +
                           event("MODIFIED", pod_json("uid-a", "a", "10.10.129.2", "171")) +
                           event("DELETED", pod_json("uid-b", "b", "10.10.129.3", "172")) + bookmark("180");
  const std::vector<std::string> expected = {"ADDED default/b", "MODIFIED default/a", "DELETED default/b"};
  std::vector<std::vector<std::string>> splits;
  for (std::size_t cut = 0; cut <= body.size(); ++cut)
    splits.push_back({body.substr(0, cut), body.substr(cut)});
  std::vector<std::string> bytes;
  for (const char ch : body) bytes.emplace_back(1, ch);
  splits.push_back(bytes);
  for (const auto& chunks : splits) {
    Harness h;
    h.script(ok({list_body({kA}, "150")}));
    h.script(ok(chunks));
    ASSERT_EQ(h.informer.list(), Informer::Next::Watch);
    h.queue.drain();
    ASSERT_EQ(h.informer.watch(), Informer::Next::Watch)
        << "first chunk: " << chunks.front().size() << " bytes";
    ASSERT_EQ(h.changes(), expected) << "first chunk: " << chunks.front().size() << " bytes";
    ASSERT_EQ(h.informer.health().resource_version, "180");
  }
}

TEST(KubeInformer, ABookmarkMovesTheResourceVersionAndChangesNothing) {
  Harness h;
  h.script(ok({list_body({kA}, "150")}));
  h.script(ok({bookmark("200")}));
  h.script(ok({}));
  ASSERT_EQ(h.informer.list(), Informer::Next::Watch);
  h.queue.drain();
  EXPECT_EQ(h.informer.watch(), Informer::Next::Watch);
  EXPECT_TRUE(h.changes().empty());
  EXPECT_EQ(h.informer.watch(), Informer::Next::Watch);
  EXPECT_NE(h.targets().at(2).find("resourceVersion=200&"), std::string::npos) << h.targets().at(2);
}

TEST(KubeInformer, Http410RelistsAndEmitsTheMissedDeletes) {
  Harness h;
  h.script(ok({list_body({kA, kB}, "150")}));
  h.script(
      status(410, R"({"kind":"Status","code":410,"reason":"Expired","message":"too old resource version"})"));
  h.script(ok({list_body({pod_json("uid-a", "a", "10.10.129.2", "190"), kC}, "200")}));
  ASSERT_EQ(h.informer.list(), Informer::Next::Watch);
  h.queue.drain();
  EXPECT_EQ(h.informer.watch(), Informer::Next::Relist);
  EXPECT_EQ(h.informer.list(), Informer::Next::Watch);
  auto changes = h.changes();
  std::sort(changes.begin(), changes.end() - 1);
  EXPECT_EQ(changes, (std::vector<std::string>{"ADDED default/c", "DELETED default/b", "MODIFIED default/a",
                                               "SYNCED"}));
  EXPECT_EQ(h.informer.health().relists, 1u);
  EXPECT_TRUE(h.informer.health().healthy) << "a 410 is not an outage";
}

TEST(KubeInformer, AnErrorEvent410RelistsAndEmitsTheMissedDeletes) {
  Harness h;
  h.script(ok({list_body({kA, kB}, "150")}));
  h.script(ok(
      {event("ADDED", kC), gone_event(), event("ADDED", pod_json("uid-d", "never", "10.10.129.9", "999"))}));
  h.script(ok({list_body({kA, kC}, "300")}));
  ASSERT_EQ(h.informer.list(), Informer::Next::Watch);
  h.queue.drain();
  EXPECT_EQ(h.informer.watch(), Informer::Next::Relist);
  EXPECT_EQ(h.changes(), (std::vector<std::string>{"ADDED default/c"}))
      << "events after the ERROR are not applied";
  EXPECT_EQ(h.informer.list(), Informer::Next::Watch);
  EXPECT_EQ(h.changes(), (std::vector<std::string>{"DELETED default/b", "SYNCED"}));
  EXPECT_EQ(h.informer.health().resource_version, "300");
}

TEST(KubeInformer, ForbiddenIsOneClearLineLoggedOnceThenRecovery) {
  Harness h;
  const std::string forbidden =
      R"({"kind":"Status","code":403,"reason":"Forbidden","message":"pods is forbidden: User \"system:serviceaccount:kube-system:podpath\" cannot list resource \"pods\""})";
  h.script(status(403, forbidden));
  h.script(status(403, forbidden));
  h.script(ok({list_body({kA}, "150")}));
  EXPECT_EQ(h.informer.list(), Informer::Next::Retry);
  const auto health = h.informer.health();
  EXPECT_FALSE(health.healthy);
  EXPECT_EQ(health.last_error.rfind(
                "pods is forbidden: the service account needs get, list and watch on pods, nodes, "
                "services and endpointslices (discovery.k8s.io) (see docs/kubernetes.md)",
                0),
            0u)
      << health.last_error;
  EXPECT_NE(health.last_error.find("cannot list resource"), std::string::npos)
      << "the server's reason is kept";
  EXPECT_EQ(h.changes(), (std::vector<std::string>{"HEALTH"}));
  EXPECT_EQ(h.informer.list(), Informer::Next::Retry);
  EXPECT_TRUE(h.changes().empty()) << "the same failure is reported once";
  EXPECT_EQ(h.informer.list(), Informer::Next::Watch);
  const auto back = h.queue.drain();
  ASSERT_EQ(summary(back), (std::vector<std::string>{"ADDED default/a", "SYNCED", "HEALTH"}));
  EXPECT_TRUE(back.back().healthy);
}

TEST(KubeInformer, EachFailureKindHasItsOwnLine) {
  struct Case {
    Reply reply;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {failure(TransportFailure::Unreachable, "Failed to connect to 10.96.0.1 port 443: Connection refused"),
       "cannot reach the Kubernetes API at https://10.96.0.1:443: Failed to connect"},
      {failure(TransportFailure::Tls, "SSL certificate problem: unable to get local issuer certificate"),
       "TLS with the Kubernetes API at https://10.96.0.1:443 failed: SSL certificate problem"},
      {status(401, R"({"kind":"Status","code":401,"message":"Unauthorized"})"),
       "the Kubernetes API at https://10.96.0.1:443 refused the credentials (401 Unauthorized)"},
      {status(500, R"({"kind":"Status","code":500,"message":"etcd is down"})"),
       "the Kubernetes API at https://10.96.0.1:443 answered GET /api/v1/pods?limit=2 with HTTP 500: etcd is "
       "down"},
      {ok({"<html>not json"}),
       "malformed response from the Kubernetes API to GET /api/v1/pods?limit=2: not JSON"},
      {ok({R"({"kind":"Status"})"}),
       "malformed response from the Kubernetes API to GET /api/v1/pods?limit=2: not a "
       "pods list"},
  };
  for (const auto& c : cases) {
    Harness h;
    h.script(c.reply);
    EXPECT_EQ(h.informer.list(), Informer::Next::Retry);
    const std::string line = h.informer.health().last_error;
    EXPECT_EQ(line.rfind(c.expected, 0), 0u) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  }
}

TEST(KubeInformer, AMalformedWatchLineIsRetriedNotApplied) {
  Harness h;
  h.script(ok({list_body({kA}, "150")}));
  h.script(ok({event("ADDED", kB), "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}\n"}));
  ASSERT_EQ(h.informer.list(), Informer::Next::Watch);
  h.queue.drain();
  EXPECT_EQ(h.informer.watch(), Informer::Next::Retry);
  EXPECT_EQ(h.changes(), (std::vector<std::string>{"ADDED default/b", "HEALTH"}));
  EXPECT_NE(h.informer.health().last_error.find("malformed response"), std::string::npos);
}

TEST(KubeInformer, AnOutageKeepsTheViewAndTheRelistCatchesUp) {
  Harness h;
  h.script(ok({list_body({kA, kB}, "150")}));
  h.script(failure(TransportFailure::Unreachable, "Connection reset by peer"));
  h.script(failure(TransportFailure::Unreachable, "Connection refused"));
  h.script(ok({list_body({kA, kC}, "400")}));
  ASSERT_EQ(h.informer.list(), Informer::Next::Watch);
  h.queue.drain();
  EXPECT_EQ(h.informer.watch(), Informer::Next::Retry);
  EXPECT_EQ(h.informer.list(), Informer::Next::Retry);
  EXPECT_EQ(h.changes(), (std::vector<std::string>{"HEALTH"}))
      << "nothing is deleted while the server is away";
  EXPECT_EQ(h.informer.list(), Informer::Next::Watch);
  EXPECT_EQ(h.changes(),
            (std::vector<std::string>{"DELETED default/b", "ADDED default/c", "SYNCED", "HEALTH"}));
}

TEST(KubeInformer, TheThreadHandsChangesOverThroughThePolledFd) {
  Harness h;
  h.script(failure(TransportFailure::Unreachable, "Connection refused"));
  h.script(ok({list_body({kA}, "150")}));
  h.script(ok({event("ADDED", kB)}));
  h.informer.start();
  std::vector<std::string> seen;
  while (std::find(seen.begin(), seen.end(), "ADDED default/b") == seen.end()) {
    pollfd pfd{h.queue.fd(), POLLIN, 0};
    ASSERT_EQ(poll(&pfd, 1, 30'000), 1) << "no change arrived; seen so far: " << seen.size();
    for (auto& s : h.changes()) seen.push_back(s);
  }
  h.informer.stop();  // returns although the next watch waits for a body that never comes
  EXPECT_EQ(seen,
            (std::vector<std::string>{"HEALTH", "ADDED default/a", "SYNCED", "HEALTH", "ADDED default/b"}));
  pollfd pfd{h.queue.fd(), POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 0) << "drained queue leaves the fd quiet";
}

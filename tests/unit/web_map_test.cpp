// The web map's server side (docs/web.md): the embedded files, MapServer (what trace --web
// serves: the page, /v1/nodes, whole-path flows, only what changed on the stream) and the
// --web flag's exposure rules.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <string>

#include "../common/cli_run.hpp"
#include "server/cluster_map.hpp"
#include "server/drop_log.hpp"
#include "server/map_server.hpp"
#include "server/web_assets.hpp"
#include "util/fd.hpp"

namespace {

using podpath::server::FlowItem;
using podpath::server::FlowItemPtr;

TEST(WebAssets, ThePageItsScriptAndStyleAreEmbedded) {
  const auto page = podpath::server::web_asset("/");
  ASSERT_TRUE(page.has_value());
  EXPECT_EQ(std::string(page->content_type), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<svg id=\"map\""), std::string::npos);
  EXPECT_NE(page->body.find("src=\"/map.js\""), std::string::npos);
  for (const char* elsewhere : {"src=\"http", "href=\"http", "src=\"//", "href=\"//"}) {
    EXPECT_EQ(page->body.find(elsewhere), std::string::npos) << "the page loads nothing from elsewhere";
  }
  const auto js = podpath::server::web_asset("/map.js");
  ASSERT_TRUE(js.has_value());
  EXPECT_EQ(std::string(js->content_type), "text/javascript; charset=utf-8");
  EXPECT_NE(js->body.find("/v1/flows/stream"), std::string::npos);
  EXPECT_EQ(podpath::server::web_asset("/map.css")->content_type, std::string("text/css; charset=utf-8"));
  EXPECT_EQ(podpath::server::web_asset("/index.html")->body, page->body);
  for (const char* absent : {"/nope.js", "/../map.js", "map.js", "/map.js/", ""}) {
    EXPECT_FALSE(podpath::server::web_asset(absent).has_value()) << absent;
  }
}

// A connection to 127.0.0.1:port that sent `request`; an invalid descriptor if either failed.
podpath::Fd send_request(std::uint16_t port, const std::string& request) {
  podpath::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};  // a test that waits for more than the server sends fails, it does not hang
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0 ||
      ::write(fd.get(), request.data(), request.size()) != static_cast<ssize_t>(request.size()))
    return podpath::Fd();
  return fd;
}

// One plain HTTP/1.0 request to 127.0.0.1:port; the whole answer, headers included.
std::string http_get(std::uint16_t port, const std::string& path) {
  const podpath::Fd fd = send_request(port, "GET " + path + " HTTP/1.0\r\nHost: x\r\n\r\n");
  if (!fd) return "connect failed";
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = ::read(fd.get(), buf, sizeof(buf))) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

std::string body_of(const std::string& response) { return response.substr(response.find("\r\n\r\n") + 4); }

FlowItemPtr item(const std::string& id, const std::string& json) {
  auto i = std::make_shared<FlowItem>();
  i->id = id;
  i->json = json;
  i->key_flow.key.proto = 1;  // pod-to-pod ICMP: not the control traffic /v1/flows leaves out
  i->key_flow.key.src = *podpath::model::IpAddress::parse("10.10.129.2");
  i->key_flow.key.dst = *podpath::model::IpAddress::parse("10.10.130.2");
  return i;
}

// A MapServer on a free loopback port.
struct TestMap {
  std::unique_ptr<podpath::server::MapServer> server;
  std::uint16_t port = 0;

  TestMap() {
    podpath::server::MapServerOptions o;
    o.listen.push_back(*podpath::server::parse_listen_address("127.0.0.1:0", "--web"));
    o.name = "lab t";
    auto started = podpath::server::MapServer::start(o);
    if (!started) {
      ADD_FAILURE() << started.error().to_string();
      return;
    }
    server = std::move(*started);
    const std::string url = server->urls().front();
    port = static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
  }
};

TEST(MapServer, ServesThePageTheNodesAndEveryConversation) {
  TestMap map;
  ASSERT_TRUE(map.server);
  const std::uint16_t port = map.port;

  EXPECT_NE(http_get(port, "/readyz").find("503"), std::string::npos) << "not ready before the first refresh";
  podpath::server::MapRefresh r;
  r.nodes = {{"nodes", nlohmann::json::array({{{"node", "node1"}}, {{"node", "node2"}}})},
             {"gateway", nullptr}};
  r.flows = {item("1/a/7/b/2048", R"({"id":"1/a/7/b/2048","n":1})"),
             item("1/c/7/d/2048", R"({"id":"1/c/7/d/2048"})")};
  map.server->publish(r);

  const std::string page = http_get(port, "/");
  EXPECT_NE(page.find("200 OK"), std::string::npos) << page.substr(0, 200);
  EXPECT_NE(page.find("Content-Security-Policy: default-src 'none'"), std::string::npos);
  const auto nodes = nlohmann::json::parse(body_of(http_get(port, "/v1/nodes")));
  EXPECT_EQ(nodes["nodes"].size(), 2u);
  const auto flows = nlohmann::json::parse(body_of(http_get(port, "/v1/flows")));
  EXPECT_EQ(flows["total"], 2);
  EXPECT_NE(http_get(port, "/v1/node").find("GET /v1/nodes"), std::string::npos);
  EXPECT_NE(http_get(port, "/nope.js").find("404"), std::string::npos);
  EXPECT_NE(http_get(port, "/?x=1").find("400"), std::string::npos);
  map.server->stop();
}

// A client of GET /v1/flows/stream on 127.0.0.1:port: the body it read, without its chunked
// framing. The stream goes out in pieces (http.cpp, kStreamPiece); what a client reads must be
// the events as they were when each was written whole.
class StreamReader {
 public:
  explicit StreamReader(std::uint16_t port)
      : fd_(send_request(port, "GET /v1/flows/stream HTTP/1.1\r\nHost: x\r\n\r\n")) {}

  /// Reads until the body holds `events` whole events (or the stream ends); the body.
  const std::string& until(std::size_t events) {
    char buf[65536];
    while (fd_ && count() < events) {
      const ssize_t n = ::read(fd_.get(), buf, sizeof(buf));
      if (n <= 0) break;
      raw_.append(buf, static_cast<std::size_t>(n));
      unchunk();
    }
    return body_;
  }

 private:
  void unchunk() {
    if (pos_ == std::string::npos) {
      const auto end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) return;
      pos_ = end + 4;
    }
    while (true) {
      const auto line = raw_.find("\r\n", pos_);
      if (line == std::string::npos) return;
      const std::size_t size = std::stoul(raw_.substr(pos_, line - pos_), nullptr, 16);
      if (raw_.size() < line + 2 + size + 2) return;
      body_ += raw_.substr(line + 2, size);
      pos_ = line + 2 + size + 2;
    }
  }
  [[nodiscard]] std::size_t count() const {
    std::size_t n = 0;
    for (auto at = body_.find("\ndata: "); at != std::string::npos; at = body_.find("\ndata: ", at + 1)) {
      if (body_.find("\n\n", at) != std::string::npos) ++n;
    }
    return n;
  }

  podpath::Fd fd_;
  std::string raw_;
  std::string body_;
  std::size_t pos_ = std::string::npos;  // where the next chunk's size line starts
};

TEST(MapServer, StreamsEventsOfManyConversationsUnchanged) {
  TestMap map;
  ASSERT_TRUE(map.server);
  const std::uint16_t port = map.port;
  // 300 conversations of about 1 KiB: each event spans several writes.
  const auto id_of = [](int i) { return fmt::format("1/a/{}/b/2048", i); };
  const auto json_of = [&](int i, int version) {
    return fmt::format(R"({{"id":"{}","v":{},"pad":"{}"}})", id_of(i), version, std::string(1000, 'x'));
  };
  podpath::server::MapRefresh r;
  r.nodes = {{"nodes", nlohmann::json::array()}, {"gateway", nullptr}};
  for (int i = 0; i < 300; ++i) r.flows.push_back(item(id_of(i), json_of(i, 1)));
  map.server->publish(r);
  const std::string flows = body_of(http_get(port, "/v1/flows"));
  ASSERT_EQ(nlohmann::json::parse(flows)["flows"].size(), 300u);

  StreamReader client(port);
  // The first event: the body of /v1/flows (without its newline), whole.
  const std::string snapshot =
      "retry: 2000\n\nid: 1\nevent: snapshot\ndata: " + flows.substr(0, flows.size() - 1) + "\n\n";
  ASSERT_EQ(client.until(1), snapshot);

  // The next refresh: the first 150 changed, the last 10 gone.
  r.flows.clear();
  std::string changed;
  for (int i = 0; i < 290; ++i) {
    r.flows.push_back(item(id_of(i), json_of(i, i < 150 ? 2 : 1)));
    if (i < 150) changed += (changed.empty() ? "" : ",") + json_of(i, 2);
  }
  map.server->publish(r);
  const std::string update = client.until(2).substr(snapshot.size());
  const std::string head = "id: 2\nevent: update\ndata: ";
  ASSERT_EQ(update.substr(0, head.size()), head);
  ASSERT_TRUE(update.ends_with("\n\n"));
  const auto data = nlohmann::json::parse(update.substr(head.size(), update.size() - head.size() - 2));
  std::vector<std::string> removed;
  for (int i = 290; i < 300; ++i) removed.push_back(id_of(i));
  std::sort(removed.begin(), removed.end());  // MapServer sends them in the order of their ids
  std::string expected = nlohmann::json{
      {"seq", 2},
      {"time", data["time"]},
      {"monotonic_ns", data["monotonic_ns"]},
      {"removed", removed}}.dump();
  expected.pop_back();
  expected = head + expected + ",\"changed\":[" + changed + "]}\n\n";
  EXPECT_EQ(update.size(), expected.size());
  EXPECT_TRUE(update == expected) << update.substr(0, 300);
  map.server->stop();
}

TEST(CliTraceWeb, RefusesANonLoopbackAddressBeforeAttaching) {
  const auto r = podpath::testing::run_cli({"trace", "--web", "10.0.0.2:8080"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("refusing to serve the API on 10.0.0.2:8080"), std::string::npos) << r.err;
  const auto unix_socket = podpath::testing::run_cli({"trace", "--web", "unix:/tmp/x.sock"});
  EXPECT_EQ(unix_socket.code, 2);
  EXPECT_NE(unix_socket.err.find("a browser cannot open a unix socket"), std::string::npos)
      << unix_socket.err;
  const auto orphan = podpath::testing::run_cli({"trace", "--token-file", "/x"});
  EXPECT_EQ(orphan.code, 2) << "--token-file needs --web";
}

// Every address is outside the cluster: the placement, not the names, is under test.
class NoNames final : public podpath::flows::EndpointResolver {
 public:
  [[nodiscard]] podpath::flows::Endpoint resolve(const podpath::model::IpAddress& ip) const override {
    podpath::flows::Endpoint e;
    e.ip = ip;
    e.name = ip.to_string();
    return e;
  }
};

TEST(DropLog, OneLogForSeveralNodesPlacesEachDropOnItsOwnNode) {
  using podpath::server::NetnsPlace;
  podpath::server::DropLog log("", 8);  // trace --web: every node of the lab
  log.set_places({{11, {NetnsPlace::Kind::Node, "node1", "node1"}},
                  {12, {NetnsPlace::Kind::Node, "node2", "node2"}},
                  {21, {NetnsPlace::Kind::Pod, "default/db-0", "node2"}},
                  {13, {NetnsPlace::Kind::OtherNode, "node3", "node3"}}});
  const NoNames names;
  podpath::bpf::DropEvent e;
  e.reason_name = "NETFILTER_DROP";
  e.ifname = "eth0";
  e.ifindex = 2;
  e.netns_cookie = 12;
  auto on_node2 = log.add(e, "nf_hook_slow+0x5c", names);
  ASSERT_TRUE(on_node2.has_value());
  EXPECT_EQ(on_node2->json["hop"]["node"], "node2");
  EXPECT_EQ(on_node2->json["place"]["name"], "node2");
  e.netns_cookie = 21;
  auto in_pod = log.add(e, "x", names);
  ASSERT_TRUE(in_pod.has_value());
  EXPECT_EQ(in_pod->role, "pod");
  EXPECT_EQ(in_pod->json["hop"]["node"], "node2") << "a pod's drop is on the pod's node";
  e.netns_cookie = 13;
  EXPECT_FALSE(log.add(e, "x", names).has_value()) << "a node not watched is left out";
  e.netns_cookie = 99;
  auto unknown = log.add(e, "x", names);
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->role, "unknown");
  EXPECT_TRUE(unknown->json["hop"]["node"].is_null()) << "no node to name in a multi-node log";
  EXPECT_EQ(log.total(), 3u);
  EXPECT_EQ(log.entries()->size(), 3u);
}

TEST(ClusterMap, MergesTheAgentsDropsNewestFirstOnTheClientsClock) {
  podpath::cluster::AgentState a1;
  a1.node = "node1";
  a1.node_json = {{"node", "node1"}, {"clock", {{"offset_ns", 1000}}}};
  a1.client_offset_ns = 1000;  // the same clock: times unchanged
  a1.drops_json = {{"drops", nlohmann::json::array({{{"monotonic_ns", 50}, {"hop", {{"node", "node1"}}}},
                                                    {{"monotonic_ns", 10}, {"hop", {{"node", "node1"}}}}})}};
  podpath::cluster::AgentState a2;
  a2.node = "node2";
  a2.node_json = {{"node", "node2"}, {"clock", {{"offset_ns", 1000}}}};
  a2.client_offset_ns = 1000;
  a2.drops_json = {{"drops", nlohmann::json::array({{{"monotonic_ns", 30}, {"reason", "NETFILTER_DROP"}}})}};
  podpath::cluster::AgentState never;  // never answered: no drops
  const auto merged = podpath::server::merge_agent_drops({a1, a2, never});
  ASSERT_EQ(merged.size(), 3u);
  std::vector<std::uint64_t> times;
  for (const auto& d : merged) times.push_back(nlohmann::json::parse(d)["monotonic_ns"].get<std::uint64_t>());
  EXPECT_EQ(times, (std::vector<std::uint64_t>{50, 30, 10}));
  EXPECT_EQ(nlohmann::json::parse(merged[1])["reason"], "NETFILTER_DROP");
}

}  // namespace

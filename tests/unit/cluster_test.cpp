// The cluster view (cluster/): agent addresses, discovery from a pod list, and the merge of
// the agents' halves into the paths a single process composes (path_fixture.hpp's lab).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "cluster/agent_client.hpp"
#include "cluster/agent_endpoint.hpp"
#include "cluster/discovery.hpp"
#include "cluster/merge.hpp"
#include "cluster/view.hpp"
#include "output/flow_view.hpp"
#include "output/routes_view.hpp"
#include "path_fixture.hpp"

using nlohmann::json;
using podpath::cluster::AgentState;

namespace {

// ---- agent addresses ----

TEST(AgentEndpoint, ParsesTheThreeForms) {
  auto u = podpath::cluster::parse_agent_endpoint("unix:/run/podpath-lab/pp/agents/node1.sock");
  ASSERT_TRUE(u) << u.error().to_string();
  EXPECT_EQ(u->unix_socket, "/run/podpath-lab/pp/agents/node1.sock");
  EXPECT_EQ(u->base_url, "http://agent");
  EXPECT_EQ(u->display(), "unix:/run/podpath-lab/pp/agents/node1.sock");
  auto h = podpath::cluster::parse_agent_endpoint("https://10.0.0.2:9990/");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->base_url, "https://10.0.0.2:9990");
  EXPECT_TRUE(h->unix_socket.empty());
  auto p = podpath::cluster::parse_agent_endpoint("http://node-1.example:80");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->base_url, "http://node-1.example:80");
  auto v6 = podpath::cluster::parse_agent_endpoint("https://[fd00::2]:9990");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->base_url, "https://[fd00::2]:9990");
}

TEST(AgentEndpoint, RefusesWhatIsNotAnAgentAddress) {
  for (const char* bad : {"10.0.0.2:9990", "ftp://10.0.0.2:21", "https://10.0.0.2", "https://10.0.0.2:0",
                          "https://10.0.0.2:70000", "https://10.0.0.2:99x", "https://10.0.0.2:9990/v1/node",
                          "https://user@10.0.0.2:9990", "unix:relative.sock", "unix:", "https://[10.0.0.2]:1",
                          "https://[fd00::2:9990", "https://bad host:1"}) {
    auto e = podpath::cluster::parse_agent_endpoint(bad);
    EXPECT_FALSE(e) << bad;
    if (!e) {
      EXPECT_NE(e.error().message.find(bad), std::string::npos) << e.error().message;
    }
  }
}

TEST(AgentEndpoint, ParsesAListAndRefusesDuplicates) {
  auto list = podpath::cluster::parse_agent_endpoints("unix:/a.sock, https://10.0.0.3:9990,,");
  ASSERT_TRUE(list) << list.error().to_string();
  ASSERT_EQ(list->size(), 2U);
  EXPECT_EQ((*list)[1].base_url, "https://10.0.0.3:9990");
  EXPECT_FALSE(podpath::cluster::parse_agent_endpoints("unix:/a.sock,unix:/a.sock"));
  EXPECT_FALSE(podpath::cluster::parse_agent_endpoints(" , "));
}

TEST(AgentDiscovery, OneAgentPerNodeFromThePodList) {
  const json list = json::parse(R"({"items": [
    {"metadata": {"name": "podpath-a"}, "spec": {"nodeName": "node1"}, "status": {"phase": "Running", "hostIP": "10.0.0.2"}},
    {"metadata": {"name": "podpath-old"}, "spec": {"nodeName": "node1"}, "status": {"phase": "Failed", "hostIP": "10.0.0.2"}},
    {"metadata": {"name": "podpath-b"}, "spec": {"nodeName": "node2"}, "status": {"phase": "Running", "hostIP": "fd00::3"}},
    {"metadata": {"name": "podpath-c"}, "spec": {}, "status": {"phase": "Pending"}}]})");
  std::vector<std::string> skipped;
  const auto agents = podpath::cluster::agents_from_pod_list(list, 9990, skipped);
  ASSERT_EQ(agents.size(), 2U);
  EXPECT_EQ(agents[0].node, "node1");
  EXPECT_EQ(agents[0].base_url, "https://10.0.0.2:9990");
  EXPECT_EQ(agents[1].base_url, "https://[fd00::3]:9990");
  ASSERT_EQ(skipped.size(), 1U);
  EXPECT_NE(skipped[0].find("podpath-c"), std::string::npos);
}

TEST(AgentClient, BacksOffAndRemembersSinceWhen) {
  EXPECT_EQ(podpath::cluster::agent_backoff(0).count(), 0);
  EXPECT_EQ(podpath::cluster::agent_backoff(1).count(), 500);
  EXPECT_EQ(podpath::cluster::agent_backoff(3).count(), 2000);
  EXPECT_EQ(podpath::cluster::agent_backoff(40).count(), 8000);
}

TEST(ClusterClock, AlignsOnlyDifferentClocks) {
  using podpath::cluster::align_time;
  EXPECT_EQ(align_time(5'000, 1'000'000'000'000, 1'000'000'000'400), 5'000U);  // one kernel: jitter
  EXPECT_EQ(align_time(10'000'000'000, 1'000'000'000'000 + 3'000'000'000, 1'000'000'000'000),
            13'000'000'000U);
  EXPECT_EQ(align_time(10'000'000'000, 0, 20'000'000'000), 1U);  // before the client's boot: clamped
  EXPECT_EQ(align_time(0, 5'000'000'000, 0), 0U);                // "never" stays never
}

TEST(ClusterMatrix, SumsTheAgentsCidrPairs) {
  podpath::model::Cluster c;
  podpath::model::Node n;
  n.name = "node1";
  n.pod_cidr = *Cidr::parse("10.10.129.0/24");
  c.nodes.push_back(n);
  auto cidrs = podpath::inventory::CidrTable::build(c);
  ASSERT_TRUE(cidrs);
  std::vector<podpath::bpf::MatrixCell> cells;
  const std::string m =
      "# TYPE podpath_cidr_pair_packets_total counter\n"
      "podpath_cidr_pair_packets_total{node=\"node1\",dst_cidr=\"other\",src_cidr=\"10.10.129.0/24\"} 20\n"
      "podpath_cidr_pair_bytes_total{node=\"node1\",dst_cidr=\"other\",src_cidr=\"10.10.129.0/24\"} 1960\n";
  podpath::cluster::add_metrics_matrix(m, *cidrs, cells);
  podpath::cluster::add_metrics_matrix(m, *cidrs, cells);
  ASSERT_EQ(cells.size(), 1U);
  EXPECT_EQ(cells[0].src_cidr, cidrs->find(*Cidr::parse("10.10.129.0/24"))->id);
  EXPECT_EQ(cells[0].dst_cidr, 0);
  EXPECT_EQ(cells[0].packets, 40U);
  EXPECT_EQ(cells[0].bytes, 3920U);
}

// ---- the merge ----

class ClusterMergeTest : public PathTest {
 protected:
  struct IfaceJson {
    std::uint32_t ifindex;
    const char* name;
    const char* role;
    const char* pod;
  };

  // /v1/node of node `i` (1 or 2) of the fixture.
  json node_json(int i, std::int64_t offset) {
    json ifaces = json::array();
    const std::vector<IfaceJson> list =
        i == 1 ? std::vector<IfaceJson>{{kEth0, "eth0", "uplink", nullptr},
                                        {kCbr0, "cbr0", "bridge", nullptr},
                                        {kVethA, "veth3a9c1f02", "pod_veth", "default/web-7d4b9-x2k4q"},
                                        {kVethB, "veth11aa22bb", "pod_veth", "default/api-0"}}
               : std::vector<IfaceJson>{{kEth0, "eth0", "uplink", nullptr},
                                        {kCbr0, "cbr0", "bridge", nullptr},
                                        {kVethA, "vethb61703ca", "pod_veth", "default/db-0"}};
    for (const auto& f : list) {
      ifaces.push_back({{"name", f.name},
                        {"ifindex", f.ifindex},
                        {"role", f.role},
                        {"pod", f.pod != nullptr ? json(f.pod) : json(nullptr)},
                        {"attached", true}});
    }
    const auto& node = cluster_.nodes[i - 1];
    return {{"node", node.name},
            {"underlay_ip", node.underlay_ip.to_string()},
            {"pod_cidr", node.pod_cidr.to_string()},
            {"bridge", "cbr0"},
            {"uplink", "eth0"},
            {"clock", {{"offset_ns", offset}}},
            {"interfaces", ifaces},
            {"routes", podpath::output::routes_to_json(seed_table(i), {})}};
  }

  static json hop(const char* node, std::uint32_t ifindex, const char* dir, std::uint64_t packets,
                  std::uint64_t first_seen) {
    return {{"node", node},
            {"interface", "x"},
            {"direction", dir},
            {"state", "observed"},
            {"observed", true},
            {"ifindex", ifindex},
            {"packets", packets},
            {"bytes", packets * 98},
            {"pps", 1.0},
            {"bps", 784.0},
            {"first_seen_ns", first_seen},
            {"last_seen_ns", first_seen + 19'000'000'000}};
  }

  // The web -> db ping conversation as one agent reports it: its node's hops only.
  static json conversation(const json& forward_hops, const json& reverse_hops) {
    json c = {{"id", "1/10.10.129.2/7/10.10.130.2/2048"},
              {"proto", "ICMP"},
              {"proto_number", 1},
              {"sport", 7},
              {"dport", 2048},
              {"fragment", false},
              {"forward",
               {{"src", "10.10.129.2"}, {"dst", "10.10.130.2"}, {"tcp_flags", 0}, {"hops", forward_hops}}},
              {"reverse", nullptr}};
    if (!reverse_hops.is_null())
      c["reverse"] = {
          {"src", "10.10.130.2"}, {"dst", "10.10.129.2"}, {"tcp_flags", 0}, {"hops", reverse_hops}};
    return c;
  }

  static AgentState agent(const std::string& node, json node_j, json flows, std::int64_t client_offset) {
    AgentState a;
    a.node = node;
    a.reachable = true;
    a.ever_reached = true;
    a.node_json = std::move(node_j);
    a.flows_json = {{"node", node}, {"flows", std::move(flows)}};
    a.client_offset_ns = client_offset;
    return a;
  }

  // Both nodes' agents: node1 saw the requests leave and the replies arrive, node2 the other half.
  std::vector<AgentState> both(std::int64_t offset1 = 1'000'000'000'000,
                               std::int64_t offset2 = 1'000'000'000'000) {
    const json n1 = json::array({conversation(
        json::array({hop("node1", kVethA, "ingress", 20, 100), hop("node1", kCbr0, "ingress", 20, 101),
                     hop("node1", kEth0, "egress", 20, 102)}),
        json::array({hop("node1", kEth0, "ingress", 20, 200), hop("node1", kCbr0, "egress", 20, 201),
                     hop("node1", kVethA, "egress", 20, 202)}))});
    const json n2 = json::array({conversation(
        json::array({hop("node2", kEth0, "ingress", 20, 150), hop("node2", kCbr0, "egress", 20, 151),
                     hop("node2", kVethA, "egress", 20, 152)}),
        json::array({hop("node2", kVethA, "ingress", 20, 160), hop("node2", kCbr0, "ingress", 20, 161),
                     hop("node2", kEth0, "egress", 20, 162)}))});
    return {agent("node1", node_json(1, offset1), n1, 1'000'000'000'000),
            agent("node2", node_json(2, offset2), n2, 1'000'000'000'000)};
  }

  std::vector<podpath::output::ConversationView> describe(const podpath::cluster::MergedCluster& m) {
    resolver_ = std::make_unique<podpath::inventory::Resolver>(
        std::make_shared<const podpath::model::Cluster>(cluster_), cidrs_);
    const auto chosen = podpath::flows::select_conversations(m.flows, {});
    auto views = podpath::output::describe(chosen.conversations, *resolver_, m.topology);
    for (auto& v : views) {
      podpath::cluster::mark_unknown(v.forward.path, m.unknown);
      if (v.reverse) podpath::cluster::mark_unknown(v.reverse->path, m.unknown);
    }
    return views;
  }

  static std::string hops_with_counts(const Path& p) {
    std::string s;
    for (const auto& h : p.hops) {
      s += h.node + ":" + h.interface + ":" + to_string(h.direction) + ":" + to_string(h.state) + ":" +
           (h.stats ? std::to_string(h.stats->packets) : "-") + ":" + h.route + "\n";
    }
    return s;
  }

  // The fixture's ping request (web -> db, echo id 7).
  FlowKey whole_request_key() { return flow("10.10.129.2", "10.10.130.2", {}).key; }
  FlowKey whole_reply_key() { return whole_request_key().reversed(); }

  std::unique_ptr<podpath::inventory::Resolver> resolver_;
};

TEST_F(ClusterMergeTest, TwoNodesHalvesAreOnePathInTraversalOrder) {
  const auto merged = podpath::cluster::merge_agents(cluster_, both());
  EXPECT_TRUE(merged.unknown.empty());
  const auto views = describe(merged);
  ASSERT_EQ(views.size(), 1U);
  ASSERT_TRUE(views[0].reverse);
  // What one process watching both nodes composes from the same points.
  const Flow whole = flow("10.10.129.2", "10.10.130.2",
                          {{kNode1, kVethA, In},
                           {kNode1, kCbr0, In},
                           {kNode1, kEth0, Out},
                           {kNode2, kEth0, In},
                           {kNode2, kCbr0, Out},
                           {kNode2, kVethA, Out}});
  const Path expected = compose(whole);
  EXPECT_EQ(hops_with_counts(views[0].forward.path), hops_with_counts(expected));
  EXPECT_EQ(views[0].forward.path.verdict, expected.verdict);
  EXPECT_TRUE(views[0].forward.path.complete);
  EXPECT_EQ(views[0].forward.path.hops.size(), 7U);
  EXPECT_EQ(views[0].forward.path.hops[3].state, HopState::Virtual);  // the gateway, explained by its route
  EXPECT_FALSE(views[0].forward.path.hops[3].route.empty());
  EXPECT_EQ(views[0].forward.path.hops.front().node, "node1");
  EXPECT_EQ(views[0].forward.path.hops.back().node, "node2");
  EXPECT_EQ(views[0].reverse->path.hops.front().node, "node2");
  EXPECT_EQ(views[0].forward.flow->packets(), 20U);
}

TEST_F(ClusterMergeTest, AFlowSeenOnTwoNodesIsOneConversation) {
  auto agents = both();
  // The same agent twice (two addresses of node2) and a node that reports the reply as its
  // forward direction (it saw it first): still one conversation.
  agents.push_back(agents[1]);
  const auto merged = podpath::cluster::merge_agents(cluster_, agents);
  EXPECT_EQ(merged.flows.size(), 2U);  // the request and the reply
  const auto views = describe(merged);
  ASSERT_EQ(views.size(), 1U);
  for (const auto& h : views[0].forward.path.hops) {
    if (h.stats) {
      EXPECT_EQ(h.stats->packets, 20U) << h.node << " " << h.interface;
    }
  }
}

TEST_F(ClusterMergeTest, ClockOffsetsPutBothNodesOnTheClientsTimeLine) {
  // node2 is another machine: its real-time-minus-monotonic offset is 5 s larger than the
  // client's, so its monotonic times are 5 s behind the client's and move forward by 5 s.
  const std::int64_t client = 1'000'000'000'000;
  auto agents = both(client, client + 5'000'000'000);
  const auto merged = podpath::cluster::merge_agents(cluster_, agents);
  const auto* reply = merged.flows.find(whole_reply_key());
  ASSERT_NE(reply, nullptr);
  // The reply's first point, node2's veth ingress at 160 ns on node2's clock, on the client's
  // (node2 is the second node: cookie 2).
  const auto* veth = reply->at({2, kVethA, Direction::Ingress});
  ASSERT_NE(veth, nullptr);
  EXPECT_EQ(veth->stats.first_seen_ns, 5'000'000'160U);
  EXPECT_EQ(reply->first_seen_ns, 200U);  // node1 saw the replies at 200 ns: earlier, on one time line
  const auto* request = merged.flows.find(whole_request_key());
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->first_seen_ns, 100U);  // node1 shares the client's clock
}

TEST_F(ClusterMergeTest, AnUnreachableAgentsHopsAreUnknownNotMissing) {
  auto agents = both();
  agents[1].reachable = false;
  agents[1].unreachable_since = std::chrono::system_clock::now();
  agents[1].error = "Connection refused";
  const auto merged = podpath::cluster::merge_agents(cluster_, agents);
  ASSERT_EQ(merged.unknown.count("node2"), 1U);
  const auto views = describe(merged);
  ASSERT_EQ(views.size(), 1U);
  const auto& path = views[0].forward.path;
  const std::string since = podpath::cluster::clock_text(*agents[1].unreachable_since);
  int unknown = 0;
  for (const auto& h : path.hops) {
    EXPECT_NE(h.state, HopState::Missing) << h.node << " " << h.interface;
    if (h.node == "node2") {
      EXPECT_EQ(h.state, HopState::Unknown);
      EXPECT_EQ(h.note, "unknown: agent on node2 unreachable since " + since);
      ++unknown;
    }
  }
  EXPECT_EQ(unknown, 3);
  EXPECT_EQ(path.verdict.rfind("unknown: agent on node2 unreachable since " + since, 0), 0U) << path.verdict;
  EXPECT_NE(path.verdict.find("seen up to node1 eth0 egress"), std::string::npos) << path.verdict;
  EXPECT_TRUE(path.complete);
}

TEST_F(ClusterMergeTest, ANodeWithoutAgentIsNamed) {
  auto agents = both();
  agents.pop_back();
  const auto merged = podpath::cluster::merge_agents(cluster_, agents);
  ASSERT_EQ(merged.without_agent, std::vector<std::string>{"node2"});
  const auto views = describe(merged);
  ASSERT_EQ(views.size(), 1U);
  EXPECT_EQ(views[0].forward.path.hops.back().note, "unknown: no agent on node2");
}

TEST_F(ClusterMergeTest, RoutesSurviveTheirJson) {
  for (int i = 1; i <= 2; ++i) {
    auto back = podpath::cluster::routes_from_json(podpath::output::routes_to_json(seed_table(i), {}));
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_EQ(*back, seed_table(i));
  }
}

}  // namespace

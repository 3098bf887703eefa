// The agent's pure parts: query strings, listen addresses and the exposure rule, the bearer
// token, the flow items built across refreshes (the node's hops, what changed), the stream
// hub's bounds, the metrics' series, and the command line's refusals (no privileges needed).
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

#include "../common/cli_run.hpp"
#include "../common/temp_dir.hpp"
#include "flows/aggregator.hpp"
#include "path_fixture.hpp"
#include "server/flow_snapshot.hpp"
#include "server/listen_address.hpp"
#include "server/metrics.hpp"
#include "server/query.hpp"
#include "server/snapshot_hub.hpp"
#include "server/token.hpp"

using podpath::server::FlowItemPtr;
using podpath::server::parse_flow_query;
using podpath::server::parse_listen_address;
using podpath::server::parse_query_string;

namespace {

// ---------------------------------------------------------------------------- query strings
TEST(ServerQuery, DecodesPairsInOrder) {
  auto q = parse_query_string("pod=default%2Fweb-1&&flag&x=a+b");
  ASSERT_TRUE(q) << q.error().message;
  ASSERT_EQ(q->size(), 3u);
  EXPECT_EQ((*q)[0], (std::pair<std::string, std::string>{"pod", "default/web-1"}));
  EXPECT_EQ((*q)[1], (std::pair<std::string, std::string>{"flag", ""}));
  EXPECT_EQ((*q)[2], (std::pair<std::string, std::string>{"x", "a b"}));
  EXPECT_TRUE(parse_query_string(""));
}

TEST(ServerQuery, RefusesMalformedQueries) {
  for (const char* bad : {"a=%zz", "a=%4", "a=%", "=x", "a=%00", "a=%0a", "a=%ff%fe", "a=%c3"}) {
    EXPECT_FALSE(parse_query_string(bad)) << bad;
  }
  EXPECT_TRUE(parse_query_string("pod=%C3%A9t%C3%A9"));  // UTF-8 text is fine
  EXPECT_FALSE(parse_query_string(std::string(podpath::server::kMaxQueryLength + 1, 'a')));
  std::string many;
  for (int i = 0; i < 33; ++i) many += "a=1&";
  EXPECT_FALSE(parse_query_string(many));
}

TEST(ServerQuery, FlowQueryTakesTheFiltersOfTrace) {
  auto q =
      parse_flow_query("pod=web-1,default/db-0&namespace=default&cidr=10.10.130.0/24&proto=icmp,udp&port=53"
                       "&sort=packets&limit=10&control=true&node=node1");
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->filter.pods, (std::vector<std::string>{"web-1", "default/db-0"}));
  EXPECT_EQ(q->filter.namespaces, (std::vector<std::string>{"default"}));
  EXPECT_EQ(q->filter.nodes, (std::vector<std::string>{"node1"}));
  ASSERT_EQ(q->filter.cidrs.size(), 1u);
  EXPECT_EQ(q->filter.protos, (std::vector<std::uint8_t>{IPPROTO_ICMP, IPPROTO_UDP}));
  EXPECT_EQ(q->filter.ports, (std::vector<std::uint16_t>{53}));
  EXPECT_TRUE(q->filter.control_traffic);
  EXPECT_EQ(q->sort, podpath::output::SortKey::Packets);
  EXPECT_EQ(q->limit, 10u);
}

TEST(ServerQuery, BadFlowValuesNameTheParameter) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"limit=-1", "'limit' must be a number"},      {"limit=abc", "'limit' must be a number"},
      {"limit=1&limit=2", "'limit' given twice"},    {"limit=99999999999999999999", "'limit' must be"},
      {"port=70000", "'port' must be a number"},     {"port=", "'port' needs a value"},
      {"cidr=10.0.0.0/33", "'cidr' must be a CIDR"}, {"proto=quic", "unknown protocol 'quic'"},
      {"sort=fast", "'sort' must be rate"},          {"control=maybe", "'control' must be true"},
      {"color=red", "unknown parameter 'color'"},    {"pod=a,,b", "'pod' needs a value"},
  };
  for (const auto& [query, needle] : cases) {
    auto q = parse_flow_query(query);
    ASSERT_FALSE(q) << query;
    EXPECT_NE(q.error().message.find(needle), std::string::npos) << query << ": " << q.error().message;
  }
  EXPECT_FALSE(podpath::server::parse_drops_query("since=1"));
  EXPECT_EQ(podpath::server::parse_drops_query("limit=5")->limit, 5u);
  EXPECT_FALSE(podpath::server::expect_no_params("x=1"));
  EXPECT_TRUE(podpath::server::expect_no_params(""));
}

// ---------------------------------------------------------------------------- listen addresses
TEST(ServerListen, ParsesAddressesAndKnowsWhatIsLocal) {
  auto a = parse_listen_address("127.0.0.1:9990");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->local_only());
  EXPECT_EQ(a->to_string(), "127.0.0.1:9990");
  auto v6 = parse_listen_address("[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->local_only());
  EXPECT_EQ(v6->to_string(), "[::1]:0");
  EXPECT_TRUE(parse_listen_address("localhost:1")->local_only());
  EXPECT_FALSE(parse_listen_address("10.0.0.2:9990")->local_only());
  EXPECT_FALSE(parse_listen_address("0.0.0.0:9990")->local_only());
  EXPECT_FALSE(parse_listen_address("[::]:9990")->local_only());
  auto u = parse_listen_address("unix:/run/podpath/agent.sock");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->local_only());
  for (const char* bad :
       {"9990", "host.example:9990", "10.0.0.2:99999", "10.0.0.2:", "unix:relative", "unix:"}) {
    EXPECT_FALSE(parse_listen_address(bad)) << bad;
  }
}

TEST(ServerListen, AnythingButLoopbackNeedsTlsAndClientAuthentication) {
  using podpath::server::ApiSecurity;
  using podpath::server::check_exposure;
  const std::vector<podpath::server::ListenAddress> local = {*parse_listen_address("127.0.0.1:9990"),
                                                             *parse_listen_address("unix:/x.sock")};
  const std::vector<podpath::server::ListenAddress> exposed = {*parse_listen_address("10.0.0.2:9990")};
  EXPECT_TRUE(check_exposure(local, {}));
  auto plain = check_exposure(exposed, {});
  ASSERT_FALSE(plain);
  for (const char* flag : {"10.0.0.2:9990", "--tls-cert", "--tls-key", "--tls-client-ca", "--token-file"}) {
    EXPECT_NE(plain.error().message.find(flag), std::string::npos) << plain.error().message;
  }
  EXPECT_FALSE(check_exposure(exposed, ApiSecurity{true, false, false}));  // TLS alone
  EXPECT_FALSE(check_exposure(exposed, ApiSecurity{false, true, true}));   // no TLS
  EXPECT_TRUE(check_exposure(exposed, ApiSecurity{true, true, false}));
  EXPECT_TRUE(check_exposure(exposed, ApiSecurity{true, false, true}));
  EXPECT_FALSE(check_exposure(local, ApiSecurity{false, true, false}));  // a client CA without TLS
}

TEST(ServerToken, AcceptsTheBearerTokenOnlyAndReloads) {
  podpath::testing::TempDir dir;
  const auto file = dir.write("token", "  s3cret-token\n");
  auto store = podpath::server::TokenStore::load(file);
  ASSERT_TRUE(store) << store.error().to_string();
  EXPECT_TRUE((*store)->accepts("Bearer s3cret-token"));
  EXPECT_FALSE((*store)->accepts("Bearer s3cret-tokeN"));
  EXPECT_FALSE((*store)->accepts("Bearer s3cret-token2"));
  EXPECT_FALSE((*store)->accepts("Basic s3cret-token"));
  EXPECT_FALSE((*store)->accepts(""));
  dir.write("token", "rotated\n");
  ASSERT_TRUE((*store)->reload());
  EXPECT_TRUE((*store)->accepts("Bearer rotated"));
  EXPECT_FALSE((*store)->accepts("Bearer s3cret-token"));
  dir.write("token", "\n");
  EXPECT_FALSE((*store)->reload());  // an empty file keeps the token
  EXPECT_TRUE((*store)->accepts("Bearer rotated"));
  EXPECT_FALSE(podpath::server::TokenStore::load(dir.path() / "missing"));
}

// ---------------------------------------------------------------------------- flow items
/// The ping of path_output_test.cpp (web on node1 -> db on node2), as node1's agent sees
/// it: only node1 is in the topology and only node1's points are counted.
class AgentFlows : public PathTest {
 protected:
  void SetUp() override {
    PathTest::SetUp();
    topo_.nodes.erase(topo_.nodes.begin() + 1);
    std::erase_if(topo_.interfaces, [](const auto& e) { return e.first.netns_cookie == kNode2; });
  }

  /// The aggregator's flow for one direction, counted at node1's three hooks.
  Flow counted(const char* src, const char* dst, std::uint64_t packets, std::uint64_t active_ns,
               bool growing) {
    const bool request = std::string(src) == "10.10.129.2";
    Flow f = flow(
        src, dst,
        request
            ? std::initializer_list<Seen>{{kNode1, kVethA, In}, {kNode1, kCbr0, In}, {kNode1, kEth0, Out}}
            : std::initializer_list<Seen>{{kNode1, kEth0, In}, {kNode1, kCbr0, Out}, {kNode1, kVethA, Out}},
        packets);
    if (!request) {
      f.key.sport = 7;
      f.key.dport = 0;
    }
    f.last_active_ns = active_ns;
    for (auto& p : f.points) p.delta_packets = growing ? 1 : 0;
    return f;
  }

  /// A direction from api-0 (node1's second pod), seen at its veth only: 50 packets.
  Flow from_api(const char* dst, std::uint8_t proto, std::uint16_t sport, std::uint16_t dport) {
    Flow f = flow("10.10.129.3", dst, {{kNode1, kVethB, In}}, 50);
    f.key.proto = proto;
    f.key.sport = sport;
    f.key.dport = dport;
    return f;
  }

  std::vector<FlowItemPtr> update(std::vector<podpath::flows::Conversation> conversations,
                                  podpath::server::FlowChanges* changes = nullptr) {
    // One snapshot per cluster state, as a session holds it between reloads.
    if (!snapshot_ || !(*snapshot_ == cluster_))
      snapshot_ = std::make_shared<const podpath::model::Cluster>(cluster_);
    const podpath::inventory::Resolver resolver(snapshot_, cidrs_);
    const podpath::server::FlowInputs in{conversations, resolver, topo_, snapshot_, nullptr};
    std::vector<FlowItemPtr> items;
    auto c = builder_.update(in, items);
    if (changes != nullptr) *changes = std::move(c);
    return items;
  }

  podpath::server::FlowSnapshotBuilder builder_{"node1"};
  podpath::model::ClusterSnapshot snapshot_;
};

TEST_F(AgentFlows, ItemsCarryTheNodesHopsInTheTraceSchema) {
  Flow req = counted("10.10.129.2", "10.10.130.2", 20, 5, true);
  Flow rep = counted("10.10.130.2", "10.10.129.2", 20, 5, true);
  const auto items = update({{&req, &rep}});
  ASSERT_EQ(items.size(), 1u);
  const auto j = nlohmann::json::parse(items[0]->json);
  EXPECT_EQ(j["id"], "1/10.10.129.2/7/10.10.130.2/2048");
  EXPECT_EQ(j["src"]["pod"], "web-7d4b9-x2k4q");
  EXPECT_EQ(j["dst"]["node"], "node2");
  std::string hops;
  for (const auto& h : j["forward"]["hops"])
    hops += h["node"].get<std::string>() + "/" + h["interface"].get<std::string>() + " ";
  EXPECT_EQ(hops, "node1/veth3a9c1f02 node1/cbr0 node1/eth0 ");
  EXPECT_EQ(j["forward"]["verdict"], "left node1 by eth0; the rest of the path is on other nodes");
  EXPECT_EQ(j["forward"]["complete"], true);
  EXPECT_EQ(j["forward"]["hops"][0]["packets"], 20);
  EXPECT_EQ(j["forward"]["hops"][0]["ifindex"], kVethA);
  EXPECT_TRUE(j["forward"]["hops"][0].contains("first_seen_ns"));
  // The reply ends on this node: its own verdict stays.
  EXPECT_EQ(j["reverse"]["verdict"], "delivered to pod default/web-7d4b9-x2k4q on node1");
  EXPECT_EQ(j["reverse"]["hops"].size(), 3u);
  EXPECT_EQ(items[0]->packets, 40u);
}

TEST_F(AgentFlows, OnlyWhatChangedIsRebuiltAndSent) {
  Flow req = counted("10.10.129.2", "10.10.130.2", 20, 5, true);
  podpath::server::FlowChanges changes;
  const auto first = update({{&req, nullptr}}, &changes);
  EXPECT_EQ(changes.changed.size(), 1u);
  // Still growing: rebuilt.
  req = counted("10.10.129.2", "10.10.130.2", 21, 6, true);
  const auto second = update({{&req, nullptr}}, &changes);
  EXPECT_EQ(changes.changed.size(), 1u);
  EXPECT_NE(first[0], second[0]);
  // Idle for the first time: its rates fell to 0, rebuilt once more.
  req = counted("10.10.129.2", "10.10.130.2", 21, 6, false);
  const auto third = update({{&req, nullptr}}, &changes);
  EXPECT_EQ(changes.changed.size(), 1u);
  // Idle again: the same item, nothing sent.
  const auto fourth = update({{&req, nullptr}}, &changes);
  EXPECT_TRUE(changes.empty());
  EXPECT_EQ(third[0], fourth[0]);
  // A route of the node changes: every item is rebuilt.
  topo_.nodes[0].routes.add(route("10.20.0.0/16", "10.0.0.1", "eth0", 0));
  update({{&req, nullptr}}, &changes);
  EXPECT_EQ(changes.changed.size(), 1u);
  // Expired: sent as removed.
  update({}, &changes);
  ASSERT_EQ(changes.removed.size(), 1u);
  EXPECT_EQ(changes.removed[0]->id, "1/10.10.129.2/7/10.10.130.2/2048");
}

TEST_F(AgentFlows, ConversationsThatStayKeepTheirItemsAndOnlyTheGoneAreRemoved) {
  std::vector<Flow> flows;
  for (std::uint16_t port = 1; port <= 40; ++port) {
    Flow f = counted("10.10.129.2", "10.10.130.2", 20, 5, false);
    f.key.sport = port;
    flows.push_back(f);
  }
  const auto conversations = [&](auto keep) {
    std::vector<podpath::flows::Conversation> out;
    for (const auto& f : flows) {
      if (keep(f.key.sport)) out.push_back({&f, nullptr});
    }
    return out;
  };
  podpath::server::FlowChanges changes;
  const auto first = update(conversations([](std::uint16_t) { return true; }), &changes);
  ASSERT_EQ(first.size(), 40u);
  EXPECT_EQ(changes.changed.size(), 40u);
  // The odd ports expire: exactly their items are removed, the others are kept as they were.
  const auto second = update(conversations([](std::uint16_t p) { return p % 2 == 0; }), &changes);
  ASSERT_EQ(second.size(), 20u);
  EXPECT_TRUE(changes.changed.empty());
  std::set<std::string> removed;
  for (const auto& item : changes.removed) removed.insert(item->id);
  ASSERT_EQ(removed.size(), 20u);
  for (std::uint16_t port = 1; port <= 40; port += 2) {
    EXPECT_EQ(removed.count(fmt::format("1/10.10.129.2/{}/10.10.130.2/2048", port)), 1u) << port;
  }
  for (std::size_t i = 0; i < second.size(); ++i) EXPECT_EQ(second[i], first[2 * i + 1]);
  // One comes back: a new item, nothing removed.
  const auto third = update(conversations([](std::uint16_t p) { return p % 2 == 0 || p == 3; }), &changes);
  EXPECT_EQ(third.size(), 21u);
  ASSERT_EQ(changes.changed.size(), 1u);
  EXPECT_EQ(changes.changed[0]->id, "1/10.10.129.2/3/10.10.130.2/2048");
  EXPECT_TRUE(changes.removed.empty());
}

TEST_F(AgentFlows, FiltersAndOrdersLikeTrace) {
  Flow a = counted("10.10.129.2", "10.10.130.2", 20, 5, true);
  Flow b = from_api("10.10.130.2", IPPROTO_UDP, 4000, 53);
  const auto items = update({{&a, nullptr}, {&b, nullptr}});
  std::size_t total = 0;
  podpath::output::FlowFilter only_api;
  only_api.pods = {"api-0"};
  auto selected = podpath::server::select_flows(items, only_api, podpath::output::SortKey::Rate, 0, total);
  ASSERT_EQ(selected.size(), 1u);
  EXPECT_EQ(total, 1u);
  EXPECT_EQ(selected[0]->id, "17/10.10.129.3/4000/10.10.130.2/53");
  auto by_packets = podpath::server::select_flows(items, podpath::output::FlowFilter{},
                                                  podpath::output::SortKey::Packets, 1, total);
  EXPECT_EQ(total, 2u);
  ASSERT_EQ(by_packets.size(), 1u);
  EXPECT_EQ(by_packets[0]->packets, 50u);
  // A reloaded inventory renames nothing under the items' feet: their endpoints share the
  // snapshot they were resolved in.
  cluster_.pods.clear();
  snapshot_.reset();
  EXPECT_EQ(items[1]->src.pod != nullptr ? items[1]->src.pod->name : "", "api-0");
}

// An item keeps only what the filters read (the forward key, its NAT join and both ends), not
// the whole view: it must pass exactly the filters its view passes, through a Service too.
TEST_F(AgentFlows, ItemsPassTheFiltersTheirViewsPass) {
  Flow plain = counted("10.10.129.2", "10.10.130.2", 20, 5, true);
  Flow via_service = from_api("10.96.0.10", IPPROTO_TCP, 40000, 80);
  podpath::model::NatRecord nat;
  nat.original = via_service.key;
  nat.reply = via_service.key.reversed();
  nat.reply.src = ip("10.10.130.2");
  nat.reply.sport = 8080;
  nat.dnat = true;
  via_service.set_nat(nat, nat.translated());
  const std::vector<podpath::flows::Conversation> conversations{{&plain, nullptr}, {&via_service, nullptr}};
  const auto items = update(conversations);
  ASSERT_EQ(items.size(), 2u);
  const podpath::inventory::Resolver resolver(snapshot_, cidrs_);
  const auto views = podpath::output::describe(conversations, resolver, topo_);
  ASSERT_EQ(views.size(), 2u);

  std::vector<podpath::output::FlowFilter> filters(9);
  filters[1].pods = {"api-0"};
  filters[2].pods = {"default/db-0"};
  filters[3].namespaces = {"kube-system"};
  filters[4].nodes = {"node2"};
  filters[5].cidrs = {*Cidr::parse("10.96.0.0/12")};  // the ClusterIP: only across the NAT
  filters[6].cidrs = {*Cidr::parse("10.10.130.0/24")};
  filters[7].ports = {8080};
  filters[8].protos = {IPPROTO_ICMP};
  std::string passed;
  for (std::size_t f = 0; f < filters.size(); ++f) {
    for (std::size_t i = 0; i < items.size(); ++i) {
      EXPECT_EQ(items[i]->matches(filters[f]), filters[f].matches(views[i]))
          << "filter " << f << ", item " << i;
      if (items[i]->matches(filters[f])) passed += std::to_string(f) + ":" + std::to_string(i) + " ";
    }
  }
  EXPECT_EQ(passed, "0:0 0:1 1:1 2:0 2:1 4:0 4:1 5:1 6:0 6:1 8:0 ");
}

// Not a test: what the items cost, for docs/agent.md "Figures". Run by hand:
//   podpath_unit_app_tests --gtest_also_run_disabled_tests --gtest_filter='*ItemMemory*'
// N UDP conversations from a node1 pod to a node2 pod (one direction, node1's three hooks,
// as scripts/bench's agent runs send), built twice (every one changed in between): the heap
// in use after each, per item.
TEST_F(AgentFlows, DISABLED_ItemMemory) {
  constexpr std::size_t kN = 20000;
  std::vector<Flow> flows;
  flows.reserve(kN);
  for (std::size_t i = 0; i < kN; ++i) {
    Flow f = counted("10.10.129.2", "10.10.130.2", 1, 5, true);
    f.key.proto = IPPROTO_UDP;
    f.key.sport = static_cast<std::uint16_t>(40000 + i / 50000);
    f.key.dport = static_cast<std::uint16_t>(1 + i % 50000);
    flows.push_back(std::move(f));
  }
  std::vector<podpath::flows::Conversation> conversations;
  for (const auto& f : flows) conversations.push_back({&f, nullptr});
  const auto in_use = [] { return static_cast<double>(mallinfo2().uordblks); };
  const double before = in_use();
  auto items = update(conversations);
  const double first = in_use();
  std::size_t json = 0;
  for (const auto& i : items) json += i->json.size();
  for (auto& f : flows) f.last_active_ns += 1;
  const auto t0 = std::chrono::steady_clock::now();
  items = update(conversations);
  const std::chrono::duration<double, std::micro> rebuild = std::chrono::steady_clock::now() - t0;
  const double second = in_use();
  std::printf("items: %zu; heap in use per item: %.0f B after the first build, %.0f B after the second; "
              "JSON %.0f B per item; sizeof(FlowItem) %zu; %.1f us per item rebuilt\n",
              kN, (first - before) / kN, (second - before) / kN, static_cast<double>(json) / kN,
              sizeof(podpath::server::FlowItem), rebuild.count() / kN);
}

TEST(ServerNodePath, KeepsTheNodesHopsAndObservedOnes) {
  podpath::flows::Path p;
  auto hop = [](const char* node, const char* iface, HopState state) {
    podpath::flows::Hop h;
    h.node = node;
    h.interface = iface;
    h.state = state;
    return h;
  };
  p.hops = {hop("gateway", "br", HopState::Virtual), hop("node2", "eth0", HopState::Observed),
            hop("node2", "cbr0", HopState::Missing), hop("node3", "eth0", HopState::Unwatched)};
  p.verdict = "whatever";
  const auto n = podpath::server::node_path(p, "node2");
  ASSERT_EQ(n.hops.size(), 2u);
  EXPECT_FALSE(n.complete);
  EXPECT_EQ(n.verdict, "left node2 by cbr0; the rest of the path is on other nodes");
  const auto last = podpath::server::node_path(p, "node3");
  EXPECT_EQ(last.verdict, "whatever");
  EXPECT_EQ(last.hops.size(), 2u);  // node2's observed hop (a point of this node) and node3's own
}

// ---------------------------------------------------------------------------- stream hub
TEST(ServerHub, BoundsStreamsAndDropsClientsThatFallBehind) {
  podpath::server::SnapshotHub hub(2, 3);
  auto snap = std::make_shared<podpath::server::AgentSnapshot>();
  snap->seq = 7;
  hub.publish(snap, nullptr);
  podpath::server::AgentSnapshotPtr start;
  auto slow = hub.subscribe(start);
  ASSERT_TRUE(slow);
  EXPECT_EQ(start->seq, 7u);
  auto fast = hub.subscribe(start);
  ASSERT_TRUE(fast);
  EXPECT_FALSE(hub.subscribe(start));  // the third: 503
  EXPECT_EQ(hub.stats().refused, 1u);

  podpath::server::StreamEventPtr got;
  for (std::uint64_t seq = 8; seq <= 11; ++seq) {
    auto e = std::make_shared<podpath::server::StreamEvent>();
    e->seq = seq;
    hub.publish(std::make_shared<podpath::server::AgentSnapshot>(), e);
    ASSERT_EQ(fast->next(got, std::chrono::milliseconds(0)), podpath::server::StreamClient::Wait::Event);
    EXPECT_EQ(got->seq, seq);
  }
  // The slow one read nothing: its fourth event overflowed its queue of three.
  EXPECT_TRUE(slow->dropped());
  EXPECT_EQ(slow->next(got, std::chrono::milliseconds(0)), podpath::server::StreamClient::Wait::Ended);
  EXPECT_EQ(hub.stats().dropped, 1u);
  EXPECT_EQ(hub.stats().active, 1u);
  EXPECT_EQ(fast->next(got, std::chrono::milliseconds(1)), podpath::server::StreamClient::Wait::Timeout);
  EXPECT_TRUE(hub.subscribe(start));  // room again
  hub.close();
  EXPECT_EQ(fast->next(got, std::chrono::milliseconds(0)), podpath::server::StreamClient::Wait::Ended);
  EXPECT_FALSE(hub.subscribe(start));
}

// ---------------------------------------------------------------------------- metrics
TEST(ServerMetrics, SeriesAreBoundedAndGoWithTheirPod) {
  podpath::server::AgentMetrics m("node1", "1.2.3");
  podpath::loader::AttachedInterface veth;
  veth.netns_cookie = 9;
  veth.ifindex = 6;
  veth.role = InterfaceRole::PodVeth;
  veth.pod = "default/web-1";
  veth.name = "veth1";
  podpath::loader::AttachedInterface eth0 = veth;
  eth0.ifindex = 2;
  eth0.role = InterfaceRole::Uplink;
  eth0.pod.clear();
  podpath::flows::FlowStore flows;
  Flow f;
  f.key.src = ip("10.10.129.2");
  f.key.dst = ip("10.10.130.2");
  f.key.sport = 40000;
  f.key.dport = 443;
  PointStats at_veth;
  at_veth.point = {9, 6, Direction::Ingress};
  at_veth.delta_packets = 3;
  at_veth.delta_bytes = 300;
  PointStats at_eth0 = at_veth;
  at_eth0.point = {9, 2, Direction::Egress};
  f.points = {at_veth, at_eth0};
  flows[flows.insert(f.key)] = f;
  auto cidrs = podpath::inventory::CidrTable::build({});
  ASSERT_TRUE(cidrs);
  const auto node1_pods = cidrs->add(*Cidr::parse("10.10.129.0/24"), "node1 pods",
                                     podpath::inventory::CidrKind::PodCidr, "node1");
  const auto node2_pods = cidrs->add(*Cidr::parse("10.10.130.0/24"), "node2 pods",
                                     podpath::inventory::CidrKind::PodCidr, "node2");
  ASSERT_TRUE(node1_pods && node2_pods);
  std::vector<podpath::bpf::MatrixCell> matrix = {{*node1_pods, *node2_pods, 3, 300}};
  podpath::bpf::FlowCounters counters;
  counters[podpath::bpf::FlowCounter::ChangeLogFull] = 4;
  std::vector<podpath::loader::AttachedInterface> interfaces = {veth, eth0};
  m.update({flows, interfaces, matrix, *cidrs, counters, nullptr, {}, 0});
  matrix[0].packets = 5;  // cumulative in the kernel: the counter grows by 2
  matrix[0].bytes = 500;
  counters[podpath::bpf::FlowCounter::ChangeLogFull] = 7;
  m.update({flows, interfaces, matrix, *cidrs, counters, nullptr, {}, 0});
  const std::string text = m.render();
  EXPECT_NE(text.find("podpath_packets_total{node=\"node1\",direction=\"ingress\",pod=\"default/"
                      "web-1\",role=\"pod_veth\"} 6"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("podpath_packets_total{node=\"node1\",direction=\"egress\",role=\"uplink\"} 6"),
            std::string::npos);
  EXPECT_NE(text.find("podpath_cidr_pair_packets_total{node=\"node1\",dst_cidr=\"10.10.130.0/"
                      "24\",src_cidr=\"10.10.129.0/24\"} 5"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("podpath_build_info{node=\"node1\",version=\"1.2.3\"} 1"), std::string::npos);
  EXPECT_NE(text.find("podpath_parse_errors_total{node=\"node1\",kind=\"ipv4_truncated\"} 0"),
            std::string::npos);
  EXPECT_NE(text.find("podpath_change_log_full_total{node=\"node1\"} 7"), std::string::npos) << text;
  // No remote pod, no port, no flow in any label.
  EXPECT_EQ(text.find("10.10.130.2"), std::string::npos);
  EXPECT_EQ(text.find("443"), std::string::npos);
  EXPECT_EQ(text.find("db-0"), std::string::npos);
  // The pod goes: its series go with it.
  interfaces = {eth0};
  m.update({flows, interfaces, matrix, *cidrs, counters, nullptr, {}, 0});
  const std::string after = m.render();
  EXPECT_EQ(after.find("default/web-1"), std::string::npos) << after;
  EXPECT_NE(after.find("role=\"uplink\""), std::string::npos);
}

// ---------------------------------------------------------------------------- command line
TEST(CliAgent, RefusesToExposeTheApiWithoutTlsAndAuthentication) {
  const auto r = podpath::testing::run_cli({"agent", "--listen", "0.0.0.0:9990"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("refusing to serve the API on 0.0.0.0:9990"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--tls-cert"), std::string::npos);
  EXPECT_NE(r.err.find("--token-file"), std::string::npos);
  const auto tls_only = podpath::testing::run_cli(
      {"agent", "--listen", "10.0.0.2:9990", "--tls-cert", "/nonexistent", "--tls-key", "/nonexistent"});
  EXPECT_EQ(tls_only.code, 2);
  EXPECT_NE(tls_only.err.find("client authentication"), std::string::npos) << tls_only.err;
  const auto bad = podpath::testing::run_cli({"agent", "--listen", "nowhere"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--listen takes ADDRESS:PORT or unix:PATH"), std::string::npos) << bad.err;
  const auto help = podpath::testing::run_cli({"agent", "--help"});
  EXPECT_EQ(help.code, 0);
  for (const char* flag : {"--listen", "--metrics-listen", "--tls-client-ca", "--token-file", "--node",
                           "--lab", "--kubeconfig", "--inventory", "--max-flows", "--idle-timeout"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  }
}

}  // namespace

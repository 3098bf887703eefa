// The path composer's output: a ping across nodes, from the flows map to JSON and the table,
// and the selection `podpath paths` makes by endpoints.
#include <nlohmann/json.hpp>

#include "output/filter.hpp"
#include "output/flow_json.hpp"
#include "output/flow_table.hpp"
#include "path_fixture.hpp"

namespace {

/// The flows map after `ping -c 20` from web (node1) to db (node2): 20 requests and 20
/// replies, each counted at the six hooks on its way.
class PingSource final : public podpath::flows::FlowSource {
 public:
  podpath::Result<void> read(const podpath::flows::RecordSink& sink) override {
    std::vector<podpath::model::FlowRecord> out;
    FlowKey req;
    req.src = ip("10.10.129.2");
    req.dst = ip("10.10.130.2");
    req.proto = IPPROTO_ICMP;
    req.sport = 7;
    req.dport = 8 << 8;
    const FlowKey rep = req.reversed();
    auto add = [&](const FlowKey& k, std::uint64_t cookie, std::uint32_t ifindex, Direction dir,
                   std::uint64_t t0) {
      podpath::model::FlowRecord r;
      r.point = {cookie, ifindex, dir};
      r.key = k;
      r.stats.packets = 20;
      r.stats.bytes = 20 * 98;
      r.stats.first_seen_ns = t0;
      r.stats.last_seen_ns = t0 + 19;
      out.push_back(r);
    };
    add(req, kNode1, kVethA, Direction::Ingress, 100);
    add(req, kNode1, kCbr0, Direction::Ingress, 101);
    add(req, kNode1, kEth0, Direction::Egress, 102);
    add(req, kNode2, kEth0, Direction::Ingress, 103);
    add(req, kNode2, kCbr0, Direction::Egress, 104);
    add(req, kNode2, kVethA, Direction::Egress, 105);
    add(rep, kNode2, kVethA, Direction::Ingress, 106);
    add(rep, kNode2, kCbr0, Direction::Ingress, 107);
    add(rep, kNode2, kEth0, Direction::Egress, 108);
    add(rep, kNode1, kEth0, Direction::Ingress, 109);
    add(rep, kNode1, kCbr0, Direction::Egress, 110);
    add(rep, kNode1, kVethA, Direction::Egress, 111);
    out.insert(out.end(), extra.begin(), extra.end());
    sink(out);
    return {};
  }
  podpath::Result<void> remove(const std::vector<podpath::flows::PointKey>&) override { return {}; }
  std::vector<podpath::model::FlowRecord> extra;  ///< more entries, after the ping's
};

/// The fixture lab after the ping, aggregated and described as the outputs see it.
class PathOutputTest : public PathTest {
 protected:
  std::vector<podpath::output::ConversationView> ping_views() {
    EXPECT_TRUE(agg_.update(1'000'000'000));
    const podpath::inventory::Resolver resolver(std::make_shared<const podpath::model::Cluster>(cluster_),
                                                cidrs_);
    return podpath::output::describe(agg_.conversations(), resolver, topo_);
  }

  PingSource source_;
  podpath::flows::Aggregator agg_{source_};
};

}  // namespace

TEST_F(PathOutputTest, PingAcrossNodesFromMapsToJson) {
  const auto views = ping_views();
  ASSERT_EQ(views.size(), 1u);
  const auto j = podpath::output::conversation_to_json(views[0]);
  EXPECT_EQ(j["src"]["name"], "default/web-7d4b9-x2k4q");
  EXPECT_EQ(j["dst"]["name"], "default/db-0");
  for (const char* dir : {"forward", "reverse"}) {
    const auto& d = j[dir];
    EXPECT_EQ(d["packets"], 20) << dir;
    EXPECT_EQ(d["complete"], true) << dir;
    std::size_t observed = 0;
    for (const auto& h : d["hops"]) {
      if (h["observed"] == true) {
        ++observed;
        EXPECT_EQ(h["packets"], 20);
      }
      EXPECT_NE(h["note"], "") << h.dump();
    }
    EXPECT_EQ(observed, 6u) << dir;
    EXPECT_EQ(d["hops"].size(), 7u) << dir;
  }
  EXPECT_EQ(j["reverse"]["hops"][3]["route"], "10.10.129.0/24 via 10.0.0.2 dev br-underlay");
  EXPECT_EQ(j["reverse"]["verdict"], "delivered to pod default/web-7d4b9-x2k4q on node1");
  const std::string text = podpath::output::render_flow_table(views, {});
  EXPECT_NE(
      text.find("default/web-7d4b9-x2k4q 10.10.129.2 → default/db-0 10.10.130.2  ICMP echo request id 7"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("  ↩ default/db-0 10.10.130.2 → default/web-7d4b9-x2k4q 10.10.129.2  ICMP echo reply id 7"),
      std::string::npos)
      << text;
}

TEST_F(PathOutputTest, PathsSelectsConversationsByTheirEnds) {
  const auto views = ping_views();
  ASSERT_EQ(views.size(), 1u);
  const auto& v = views[0];
  using podpath::output::between_endpoints;
  EXPECT_TRUE(between_endpoints(v, {}));
  EXPECT_TRUE(between_endpoints(v, {"web-7d4b9-x2k4q"}));
  EXPECT_TRUE(between_endpoints(v, {"default/db-0"}));
  EXPECT_TRUE(between_endpoints(v, {"10.10.130.2"}));
  EXPECT_TRUE(between_endpoints(v, {"db-0", "default/web-7d4b9-x2k4q"})) << "either way round";
  EXPECT_FALSE(between_endpoints(v, {"api-0"}));
  EXPECT_FALSE(between_endpoints(v, {"other/db-0"}));
  EXPECT_FALSE(between_endpoints(v, {"db-0", "api-0"}));
  EXPECT_FALSE(between_endpoints(v, {"10.10.129.3"}));
}

TEST_F(PathOutputTest, TheLimitSortAndFiltersApplyToTheJsonSnapshot) {
  // Besides the ping: 30 DNS queries from api-0 (node1) to db-0, each busier than the ping.
  for (std::uint16_t i = 0; i < 30; ++i) {
    podpath::model::FlowRecord r;
    r.point = {kNode1, kVethB, Direction::Ingress};
    r.key.src = ip("10.10.129.3");
    r.key.dst = ip("10.10.130.2");
    r.key.proto = IPPROTO_UDP;
    r.key.sport = static_cast<std::uint16_t>(5000 + i);
    r.key.dport = 53;
    r.stats.packets = 100 + i;
    r.stats.bytes = 100 * r.stats.packets;
    r.stats.first_seen_ns = r.stats.last_seen_ns = 100;
    source_.extra.push_back(r);
  }
  ASSERT_TRUE(agg_.update(1'000'000'000));
  using namespace podpath::output;
  const podpath::inventory::Resolver resolver(std::make_shared<const podpath::model::Cluster>(cluster_),
                                              cidrs_);
  const auto snapshot = [&](const FlowFilter& f, SortKey sort, std::size_t limit) {
    const SelectedViews v = select_views(agg_, resolver, topo_, f, sort, limit);
    return nlohmann::json{{"conversations", selection_to_json(v)},
                          {"flows", nlohmann::json::parse(flows_json_text(v.views))}};
  };

  auto j = snapshot({}, SortKey::Packets, 10);
  EXPECT_EQ(j["conversations"]["total"], 31);
  EXPECT_EQ(j["conversations"]["matching"], 31);
  EXPECT_EQ(j["conversations"]["shown"], 10);
  ASSERT_EQ(j["flows"].size(), 10u);
  EXPECT_EQ(j["flows"][0]["sport"], 5029);  // the busiest first
  EXPECT_EQ(j["flows"][9]["sport"], 5020);

  FlowFilter web;
  web.pods = {"web-7d4b9-x2k4q"};
  j = snapshot(web, SortKey::Packets, 10);
  EXPECT_EQ(j["conversations"]["total"], 31);
  EXPECT_EQ(j["conversations"]["matching"], 1);
  ASSERT_EQ(j["flows"].size(), 1u);
  EXPECT_EQ(j["flows"][0]["proto"], "ICMP");

  FlowFilter port;
  port.protos = {IPPROTO_UDP};
  port.ports = {5003};
  j = snapshot(port, SortKey::Rate, 0);
  EXPECT_EQ(j["conversations"]["matching"], 1);
  ASSERT_EQ(j["flows"].size(), 1u);
  EXPECT_EQ(j["flows"][0]["sport"], 5003);

  // Selecting before describing keeps exactly what filtering the described views keeps.
  const auto all = describe(agg_.conversations(), resolver, topo_);
  for (const FlowFilter& f : {FlowFilter{}, web, port, FlowFilter{{"api-0"}, {}, {}, {}, {}, {}, false},
                              FlowFilter{{}, {"default"}, {"node2"}, {}, {}, {}, false}}) {
    const auto chosen = select_views(agg_, resolver, topo_, f, SortKey::Rate, 0);
    EXPECT_EQ(chosen.views.size(), f.apply(all).size());
  }
}

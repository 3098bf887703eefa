// Terminal and JSON renderings: flows with paths, annotated routes, the pod table.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <filesystem>
#include <sstream>

#include "inventory/lab_inventory.hpp"
#include "output/flow_json.hpp"
#include "output/flow_table.hpp"
#include "output/pods_view.hpp"
#include "output/routes_view.hpp"
#include "output/terminal.hpp"
#include "output/text.hpp"

namespace out = podpath::output;
using podpath::flows::Endpoint;
using podpath::flows::EndpointKind;
using podpath::flows::Flow;
using podpath::flows::Hop;
using podpath::flows::HopDirection;
using podpath::flows::HopState;
using podpath::flows::PointStats;
using podpath::model::Cidr;
using podpath::model::InterfaceRole;
using podpath::model::IpAddress;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

podpath::model::Cluster fixture() {
  auto c =
      podpath::inventory::read_lab_inventory(std::filesystem::path(PODPATH_TEST_DATA) / "lab_inventory.json");
  EXPECT_TRUE(c) << c.error().to_string();
  return *c;
}

Flow icmp_flow(const char* src, const char* dst, std::uint64_t packets, double bps) {
  Flow f;
  f.key.src = ip(src);
  f.key.dst = ip(dst);
  f.key.proto = IPPROTO_ICMP;
  f.key.sport = 7;
  f.key.dport = 8 << 8;
  PointStats p;
  p.packets = packets;
  p.bytes = packets * 98;
  p.bps = bps;
  p.pps = bps / 784;
  f.points.push_back(p);
  return f;
}

Endpoint endpoint(EndpointKind kind, const char* name, const char* addr, const char* node, const char* cidr) {
  Endpoint e;
  e.kind = kind;
  e.name = name;
  e.ip = ip(addr);
  e.node = node;
  e.cidr = cidr;
  return e;
}

Hop hop(const char* node, const char* iface, HopDirection dir, InterfaceRole role, HopState state,
        const char* note, std::uint64_t packets = 20) {
  Hop h;
  h.node = node;
  h.interface = iface;
  h.direction = dir;
  h.role = role;
  h.state = state;
  h.note = note;
  if (state == HopState::Observed) {
    PointStats s;
    s.packets = packets;
    s.bytes = packets * 98;
    h.stats = s;
  }
  return h;
}

out::DirectionView web_to_db(const Flow& f) {
  out::DirectionView v;
  v.flow = &f;
  v.src = endpoint(EndpointKind::Pod, "default/web-1", "10.10.129.2", "node1", "node1 pods");
  v.dst = endpoint(EndpointKind::Pod, "default/db-0", "10.10.130.2", "node2", "node2 pods");
  v.path.hops = {
      hop("node1", "veth8f15a378", HopDirection::Ingress, InterfaceRole::PodVeth, HopState::Observed,
          "from pod web-1"),
      hop("node1", "cbr0", HopDirection::Ingress, InterfaceRole::Bridge, HopState::Observed,
          "10.10.130.2 not local; route 0.0.0.0/0 via 10.0.0.1 dev eth0"),
      hop("node1", "eth0", HopDirection::Egress, InterfaceRole::Uplink, HopState::Observed,
          "→ gateway 10.0.0.1"),
      hop("gateway", "br-underlay", HopDirection::Forward, InterfaceRole::Gateway, HopState::Virtual,
          "route 10.10.130.0/24 via 10.0.0.3 (not observed)"),
      hop("node2", "eth0", HopDirection::Ingress, InterfaceRole::Uplink, HopState::Missing,
          "not seen: left node1 eth0, never reached node2 eth0"),
  };
  v.path.hops[1].route = "0.0.0.0/0 via 10.0.0.1 dev eth0";
  v.path.verdict = "stops after node1 eth0 egress: never reached node2 eth0 ingress";
  v.path.complete = false;
  return v;
}

}  // namespace

TEST(Text, RatesAndSizesAreHuman) {
  EXPECT_EQ(out::format_pps(0), "0 pkt/s");
  EXPECT_EQ(out::format_pps(950), "950 pkt/s");
  EXPECT_EQ(out::format_pps(1234), "1.2 kpkt/s");
  EXPECT_EQ(out::format_bps(9.8e6), "9.8 Mbit/s");
  EXPECT_EQ(out::format_bps(1e9), "1.0 Gbit/s");
  EXPECT_EQ(out::format_bytes(512), "512 B");
  EXPECT_EQ(out::format_bytes(1536), "1.5 KiB");
}

TEST(Text, PortsPerProtocol) {
  podpath::model::FlowKey k;
  k.proto = IPPROTO_TCP;
  k.sport = 43512;
  k.dport = 5432;
  EXPECT_EQ(out::format_ports(k), "43512→5432");
  k.proto = IPPROTO_ICMP;
  k.sport = 17;
  k.dport = 8 << 8;
  EXPECT_EQ(out::format_ports(k), "echo request id 17");
  k.dport = 0;
  EXPECT_EQ(out::format_ports(k), "echo reply id 17");
  k.dport = 3 << 8 | 1;
  EXPECT_EQ(out::format_ports(k), "type 3 code 1");
  k.proto = IPPROTO_ICMPV6;
  k.dport = 129 << 8;
  EXPECT_EQ(out::format_ports(k), "echo reply id 17");
  k.fragment = true;
  EXPECT_EQ(out::format_ports(k), "fragment");
}

TEST(Text, WidthCountsCharactersNotBytesOrEscapes) {
  EXPECT_EQ(out::display_width("→ ab"), 4u);
  EXPECT_EQ(out::display_width("\x1b[1;31mred\x1b[0m"), 3u);
  EXPECT_EQ(out::pad_right("→", 3), "→  ");
  EXPECT_EQ(out::pad_left("7", 3), "  7");
  EXPECT_EQ(out::truncate("abcdef", 4), "abc…");
  EXPECT_EQ(out::truncate("→→→→", 3), "→→…");
  EXPECT_EQ(out::truncate("abc", 3), "abc");
  EXPECT_EQ(out::truncate("abc", 0), "abc");
}

TEST(Terminal, StringStreamsAreNoTerminal) {
  std::ostringstream s;
  EXPECT_FALSE(out::use_color(s));
  EXPECT_EQ(out::terminal_width(s), 0u);
}

TEST(FlowTable, HeaderThenIndentedHopsWithoutColourByDefault) {
  const Flow f = icmp_flow("10.10.129.2", "10.10.130.2", 20, 15680);
  out::ConversationView c;
  c.forward = web_to_db(f);
  const std::string text = out::render_flow_table({c}, {});
  EXPECT_EQ(text.rfind("default/web-1 10.10.129.2 → default/db-0 10.10.130.2  ICMP echo request id 7  ", 0),
            0u)
      << text;
  EXPECT_NE(text.find("15.7 kbit/s  20 pkt\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n  node1    veth8f15a378  ingress       20 pkt  from pod web-1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("  gateway  br-underlay   forward     (router)  route 10.10.130.0/24 via 10.0.0.3"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  node2    eth0          ingress      MISSING  not seen: left node1 eth0"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("⇒ stops after node1 eth0 egress"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
}

TEST(FlowTable, ColourMarksMissingHopsAndWidthCutsLines) {
  const Flow f = icmp_flow("10.10.129.2", "10.10.130.2", 20, 15680);
  out::ConversationView c;
  c.forward = web_to_db(f);
  out::TableOptions o;
  o.color = true;
  const std::string coloured = out::render_flow_table({c}, o);
  EXPECT_NE(coloured.find("\x1b[1;31m  node2"), std::string::npos) << coloured;

  o.color = false;
  o.width = 60;
  const std::string narrow = out::render_flow_table({c}, o);
  std::istringstream lines(narrow);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(out::display_width(line), 60u) << line;
  EXPECT_NE(narrow.find("…"), std::string::npos);
}

TEST(FlowTable, SortsByRateAndShowsTheReply) {
  const Flow slow = icmp_flow("10.10.129.3", "10.10.130.3", 5, 100);
  const Flow fast = icmp_flow("10.10.129.2", "10.10.130.2", 20, 90000);
  const Flow reply = icmp_flow("10.10.130.2", "10.10.129.2", 20, 90000);
  out::ConversationView a, b;
  a.forward = web_to_db(slow);
  a.forward.src.name = "default/slow";
  b.forward = web_to_db(fast);
  b.reverse = web_to_db(reply);
  std::swap(b.reverse->src, b.reverse->dst);
  const std::string text = out::render_flow_table({a, b}, {});
  const auto fast_at = text.find("default/web-1 10.10.129.2 →");
  const auto slow_at = text.find("default/slow");
  ASSERT_NE(fast_at, std::string::npos);
  EXPECT_LT(fast_at, slow_at);
  EXPECT_NE(text.find("  ↩ default/db-0 10.10.130.2 → default/web-1 10.10.129.2"), std::string::npos) << text;

  out::TableOptions o;
  o.limit = 1;
  EXPECT_EQ(out::render_flow_table({a, b}, o).find("default/slow"), std::string::npos);
  EXPECT_EQ(out::render_flow_table({}, o), "no flows yet\n");
}

TEST(FlowJson, StableFieldNames) {
  const Flow f = icmp_flow("10.10.129.2", "10.10.130.2", 20, 15680);
  out::ConversationView c;
  c.forward = web_to_db(f);
  const auto j = out::conversation_to_json(c);
  EXPECT_EQ(j["src"]["kind"], "pod");
  EXPECT_EQ(j["src"]["name"], "default/web-1");
  EXPECT_EQ(j["src"]["ip"], "10.10.129.2");
  EXPECT_EQ(j["src"]["node"], "node1");
  EXPECT_EQ(j["src"]["cidr"], "node1 pods");
  EXPECT_EQ(j["dst"]["node"], "node2");
  EXPECT_EQ(j["proto"], "ICMP");
  EXPECT_EQ(j["proto_number"], 1);
  EXPECT_EQ(j["icmp"]["type"], 8);
  EXPECT_EQ(j["icmp"]["id"], 7);
  EXPECT_TRUE(j["reverse"].is_null());
  const auto& fw = j["forward"];
  EXPECT_EQ(fw["packets"], 20);
  EXPECT_EQ(fw["bytes"], 1960);
  EXPECT_EQ(fw["complete"], false);
  EXPECT_EQ(fw["verdict"], "stops after node1 eth0 egress: never reached node2 eth0 ingress");
  ASSERT_EQ(fw["hops"].size(), 5u);
  const auto& h1 = fw["hops"][1];
  EXPECT_EQ(h1["node"], "node1");
  EXPECT_EQ(h1["interface"], "cbr0");
  EXPECT_EQ(h1["direction"], "ingress");
  EXPECT_EQ(h1["role"], "bridge");
  EXPECT_EQ(h1["state"], "observed");
  EXPECT_EQ(h1["observed"], true);
  EXPECT_EQ(h1["packets"], 20);
  EXPECT_EQ(h1["route"], "0.0.0.0/0 via 10.0.0.1 dev eth0");
  EXPECT_EQ(fw["hops"][3]["role"], "gateway");
  EXPECT_EQ(fw["hops"][3]["state"], "virtual");
  EXPECT_TRUE(fw["hops"][3]["packets"].is_null());
  EXPECT_TRUE(fw["hops"][0]["route"].is_null());
  EXPECT_EQ(fw["hops"][4]["state"], "missing");
  EXPECT_EQ(fw["hops"][4]["observed"], false);
  EXPECT_EQ(nlohmann::json::parse(out::flows_json_text({c, c})).size(), 2u);
}

// The agent serialises conversations as text, without a document: the text is what the
// document dumps, byte for byte (members in nlohmann's order), with every optional part.
TEST(FlowJson, TheTextIsWhatTheDocumentDumps) {
  const Flow f = icmp_flow("10.10.129.2", "10.10.130.2", 20, 15680);
  const Flow reply = icmp_flow("10.10.130.2", "10.10.129.2", 20, 90000);
  out::ConversationView c;
  c.forward = web_to_db(f);
  const std::string plain = out::conversation_json_text(c);
  EXPECT_EQ(plain, nlohmann::json::parse(plain).dump());
  c.reverse = web_to_db(reply);
  c.forward.container = "app,side\"car\n";
  c.forward.src.departed = true;
  c.forward.dst.candidates = {"default/a", "default/b"};
  c.forward.path.hops[1].nat = "DNAT 10.96.0.10:80 → 10.10.130.2:8080";
  const std::string full = out::conversation_json_text(c, "1/10.10.129.2/7/10.10.130.2/2048");
  const auto j = nlohmann::json::parse(full);
  EXPECT_EQ(full, j.dump());
  EXPECT_EQ(j["id"], "1/10.10.129.2/7/10.10.130.2/2048");
  EXPECT_EQ(j["forward"]["container"], "app,side\"car\n");
  EXPECT_EQ(j["src"]["deleted"], true);
  EXPECT_EQ(j["dst"]["ambiguous"], nlohmann::json({"default/a", "default/b"}));
  EXPECT_EQ(j["forward"]["hops"][1]["nat"], "DNAT 10.96.0.10:80 → 10.10.130.2:8080");
  EXPECT_EQ(j["reverse"]["packets"], 20);
  EXPECT_EQ(out::conversation_to_json(c), nlohmann::json::parse(out::conversation_json_text(c)));
  // `paths --output json` indents: as the document's dump(2) does.
  const std::string indented = out::flows_json_text({c, c}, 2);
  EXPECT_EQ(indented, nlohmann::json::parse(indented).dump(2));
  EXPECT_EQ(nlohmann::json::parse(indented), nlohmann::json::parse(out::flows_json_text({c, c})));
}

namespace {

podpath::net::RouteTable seed_node1() {
  podpath::net::RouteTable t;
  auto add = [&](const char* dst, const char* via, const char* dev, std::uint32_t metric) {
    podpath::net::Route r;
    r.dst = *Cidr::parse(dst);
    if (via != nullptr) r.gateway = ip(via);
    r.dev = dev;
    r.metric = metric;
    t.add(r);
  };
  add("0.0.0.0/0", "10.0.0.1", "eth0", 100);
  add("10.0.0.0/24", nullptr, "eth0", 0);
  add("10.0.0.1/32", nullptr, "eth0", 100);
  add("10.10.129.0/24", nullptr, "cbr0", 0);
  add("10.10.130.0/24", "10.0.0.3", "eth0", 0);  // not in the seed: a host-gw style route
  add("172.17.0.0/24", nullptr, "docker0", 0);
  add("fe80::/64", nullptr, "eth0", 256);
  return t;
}

}  // namespace

TEST(RoutesView, OwnersOfTheSeedRoutes) {
  const auto cluster = fixture();
  const auto* node1 = cluster.find_node("node1");
  const auto t = seed_node1();
  auto owner = [&](const char* dst) { return out::route_owner(*t.find(*Cidr::parse(dst)), cluster, node1); };
  EXPECT_EQ(owner("10.10.129.0/24"), "this node's pods");
  EXPECT_EQ(owner("10.10.130.0/24"), "node2's pods");
  EXPECT_EQ(owner("10.0.0.0/24"), "underlay (node network)");
  EXPECT_EQ(owner("10.0.0.1/32"), "the gateway");
  EXPECT_EQ(owner("0.0.0.0/0"), "default: everything else, via the gateway");
  EXPECT_EQ(owner("172.17.0.0/24"), "docker0 (unused)");
  EXPECT_EQ(owner("fe80::/64"), "IPv6 link-local");
  // The gateway's table names the node a pod CIDR is routed to.
  podpath::net::Route gw_route;
  gw_route.dst = *Cidr::parse("10.10.129.0/24");
  gw_route.gateway = ip("10.0.0.2");
  EXPECT_EQ(out::route_owner(gw_route, cluster, nullptr), "node1's pods (via node1)");
}

TEST(RoutesView, AnnotatedTableKeepsTheRouteNColumns) {
  const auto cluster = fixture();
  const auto* node1 = cluster.find_node("node1");
  const auto t = seed_node1();
  const std::string plain = podpath::net::format_route_n(t);
  const std::string annotated = out::format_routes_annotated(
      t, [&](const podpath::net::Route& r) { return out::route_owner(r, cluster, node1); });
  std::istringstream a(annotated), p(plain);
  std::string la, lp;
  std::getline(a, la);
  std::getline(p, lp);
  EXPECT_EQ(la, lp);  // title
  std::getline(a, la);
  std::getline(p, lp);
  EXPECT_EQ(la, "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface    Owner");
  int rows = 0;
  while (std::getline(p, lp)) {
    ASSERT_TRUE(std::getline(a, la));
    EXPECT_EQ(la.substr(0, lp.size()), lp);
    ++rows;
  }
  EXPECT_EQ(rows, 6);
  EXPECT_NE(annotated.find("0 cbr0     this node's pods\n"), std::string::npos) << annotated;
  EXPECT_NE(annotated.find("0 docker0  docker0 (unused)\n"), std::string::npos) << annotated;

  const auto j = out::routes_to_json(t, [](const podpath::net::Route&) { return std::string("x"); });
  ASSERT_EQ(j.size(), 7u);
  EXPECT_EQ(j[0]["destination"], "0.0.0.0/0");
  EXPECT_EQ(j[0]["gateway"], "10.0.0.1");
  EXPECT_EQ(j[0]["flags"], "UG");
  EXPECT_EQ(j[0]["genmask"], "0.0.0.0");
  EXPECT_EQ(j[6]["family"], "inet6");
  EXPECT_FALSE(j[6].contains("genmask"));
  EXPECT_EQ(j[1]["owner"], "x");
}

TEST(PodsView, KubectlLikeTableSortedByNodeThenIp) {
  auto cluster = fixture();
  const auto rows =
      out::pod_rows(cluster, "", [](const podpath::model::Container& c) { return c.name == "app"; });
  ASSERT_EQ(rows.size(), 2u);
  const std::string text = out::render_pod_table(rows, false);
  EXPECT_EQ(text, "NAMESPACE   NAME              READY   IP            NODE    NODE CIDR\n"
                  "default     web-7d4b9-x2k4q   1/2     10.10.129.2   node1   10.10.129.0/24\n"
                  "default     db-0              -       10.10.130.2   node2   10.10.130.0/24\n");
  EXPECT_EQ(out::pod_rows(cluster, "node2", nullptr).size(), 1u);
}

TEST(PodsView, ReadyLeavesInitContainersOutAsKubectlDoes) {
  auto cluster = fixture();
  podpath::model::Container setup;
  setup.name = "setup";
  setup.init = true;
  cluster.pods[0].containers.push_back(setup);
  const auto rows = out::pod_rows(cluster, "node1", [](const podpath::model::Container&) { return true; });
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].running, 2u);
  EXPECT_NE(out::render_pod_table(rows, false).find(" 2/2 "), std::string::npos);
}

TEST(PodsView, HighlightsTheFourthOctetAndFlagsAnIpOutsideItsNode) {
  EXPECT_EQ(out::highlight_last_octet(ip("10.10.129.2"), true), "10.10.129.\x1b[1;33m2\x1b[0m");
  EXPECT_EQ(out::highlight_last_octet(ip("10.10.129.2"), false), "10.10.129.2");
  auto cluster = fixture();
  cluster.pods[1].ip = ip("10.10.129.9");  // db-0 on node2 with a node1 address
  const auto rows = out::pod_rows(cluster, "", nullptr);
  const std::string coloured = out::render_pod_table(rows, true);
  EXPECT_NE(coloured.find("IP outside the node's CIDR"), std::string::npos) << coloured;
  // Alignment ignores the escape sequences.
  std::istringstream lines(coloured);
  std::string header, first;
  std::getline(lines, header);
  std::getline(lines, first);
  EXPECT_EQ(out::display_width(first.substr(0, first.find("node1"))), header.find("NODE "));

  const auto j = out::pods_to_json(rows);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["name"], "db-0");
  EXPECT_EQ(j[1]["in_node_cidr"], false);
  EXPECT_EQ(j[0]["node_cidr"], "10.10.129.0/24");
  EXPECT_EQ(j[0]["containers"].size(), 2u);
}

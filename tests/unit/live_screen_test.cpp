// The full-screen view of `podpath trace` as data: layout at several terminal sizes, the
// compact path, colour and no-colour marks, and the key reducer.
#include <gtest/gtest.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>

#include <deque>
#include <string>
#include <vector>

#include "output/live_screen.hpp"
#include "output/text.hpp"

namespace out = podpath::output;
namespace live = podpath::output::live;
using live::Key;
using live::KeyCode;
using podpath::flows::Endpoint;
using podpath::flows::EndpointKind;
using podpath::flows::Flow;
using podpath::flows::Hop;
using podpath::flows::HopDirection;
using podpath::flows::HopState;
using podpath::model::InterfaceRole;
using podpath::model::IpAddress;
using podpath::model::Pod;

namespace {

/// Conversations over two nodes: pods web (node1, .2), api (node1, .3), cache (node2, .3).
class Cluster {
 public:
  Cluster() {
    add_pod("web-qs4vtwsfgf-nmtqp", "node1", "10.10.129.2", "vethe74f2ead");
    add_pod("api-ghm7tbdfg6-wv2gn", "node1", "10.10.129.3", "vethe83fba37");
    add_pod("cache-sfqzj7bn7t-nqj84", "node2", "10.10.130.3", "vethc67de299");
  }

  /// web → cache ICMP echo, both ways, the six observed hops and the gateway each way;
  /// `missing_from` > 0 marks hops from that one on as missing in the request.
  out::ConversationView cross_node(std::uint64_t packets, double pps, std::size_t missing_from = 0) {
    out::ConversationView c;
    c.forward =
        direction(flow("10.10.129.2", "10.10.130.3", IPPROTO_ICMP, 7, ICMP_ECHO << 8, packets, pps), 0, 2);
    c.forward.path.hops = {
        hop("node1", "vethe74f2ead", HopDirection::Ingress, InterfaceRole::PodVeth, "from pod web"),
        hop("node1", "cbr0", HopDirection::Ingress, InterfaceRole::Bridge,
            "route 0.0.0.0/0 via 10.0.0.1 dev eth0"),
        hop("node1", "eth0", HopDirection::Egress, InterfaceRole::Uplink, "→ gateway 10.0.0.1"),
        hop("gateway", "br-underlay", HopDirection::Forward, InterfaceRole::Gateway,
            "route 10.10.130.0/24 via 10.0.0.3"),
        hop("node2", "eth0", HopDirection::Ingress, InterfaceRole::Uplink, "← 10.0.0.1"),
        hop("node2", "cbr0", HopDirection::Egress, InterfaceRole::Bridge, "route 10.10.130.0/24 dev cbr0"),
        hop("node2", "vethc67de299", HopDirection::Egress, InterfaceRole::PodVeth, "to pod cache"),
    };
    c.forward.path.hops[3].state = HopState::Virtual;
    c.forward.path.hops[3].stats.reset();
    for (std::size_t i = missing_from; missing_from > 0 && i < c.forward.path.hops.size(); ++i) {
      c.forward.path.hops[i].state = HopState::Missing;
      c.forward.path.hops[i].stats.reset();
    }
    c.forward.path.verdict = "delivered to pod default/cache on node2";
    c.reverse = direction(flow("10.10.130.3", "10.10.129.2", IPPROTO_ICMP, 7, 0, packets, pps), 2, 0);
    c.reverse->path.hops = c.forward.path.hops;
    std::reverse(c.reverse->path.hops.begin(), c.reverse->path.hops.end());
    return c;
  }

  /// IPv6 neighbour discovery from web: control traffic, hidden unless asked for.
  out::ConversationView neighbour_discovery() {
    out::ConversationView c;
    c.forward =
        direction(flow("fe80::1", "ff02::1:ff00:2", IPPROTO_ICMPV6, 0, ND_NEIGHBOR_SOLICIT << 8, 3, 1), 0, 1);
    return c;
  }

  /// web → api UDP on one node: bridged, two hops.
  out::ConversationView same_node(std::uint64_t packets, double pps) {
    out::ConversationView c;
    c.forward = direction(flow("10.10.129.2", "10.10.129.3", IPPROTO_UDP, 55233, 9000, packets, pps), 0, 1);
    c.forward.path.hops = {
        hop("node1", "vethe74f2ead", HopDirection::Ingress, InterfaceRole::PodVeth, "from pod web"),
        hop("node1", "vethe83fba37", HopDirection::Egress, InterfaceRole::PodVeth,
            "to pod api; bridged on cbr0"),
    };
    c.forward.path.verdict = "delivered to pod default/api on node1 (same node, bridged)";
    return c;
  }

 private:
  void add_pod(const char* name, const char* node, const char* ip, const char* veth) {
    Pod p;
    p.ns = "default";
    p.name = name;
    p.node = node;
    p.ip = *IpAddress::parse(ip);
    p.veth = veth;
    pods_.push_back(p);
  }

  Endpoint endpoint(std::size_t pod) const {
    const Pod& p = pods_[pod];
    Endpoint e;
    e.kind = EndpointKind::Pod;
    e.ip = p.ip;
    e.name = p.full_name();
    e.node = p.node;
    e.pod = std::shared_ptr<const Pod>(std::shared_ptr<const Pod>(), &p);  // not owned: pods_ holds it
    return e;
  }

  const Flow* flow(const char* src, const char* dst, std::uint8_t proto, std::uint16_t sport,
                   std::uint16_t dport, std::uint64_t packets, double pps) {
    Flow f;
    f.key.src = *IpAddress::parse(src);
    f.key.dst = *IpAddress::parse(dst);
    f.key.proto = proto;
    f.key.sport = sport;
    f.key.dport = dport;
    podpath::flows::PointStats p;
    p.packets = packets;
    p.bytes = packets * 98;
    p.pps = pps;
    p.bps = pps * 784;
    f.points.push_back(p);
    flows_.push_back(f);
    return &flows_.back();
  }

  out::DirectionView direction(const Flow* f, std::size_t src, std::size_t dst) const {
    out::DirectionView d;
    d.flow = f;
    d.src = endpoint(src);
    d.dst = endpoint(dst);
    return d;
  }

  static Hop hop(const char* node, const char* iface, HopDirection dir, InterfaceRole role,
                 const char* note) {
    Hop h;
    h.node = node;
    h.interface = iface;
    h.direction = dir;
    h.role = role;
    h.state = HopState::Observed;
    h.note = note;
    podpath::flows::PointStats s;
    s.packets = 47;
    h.stats = s;
    return h;
  }

  std::deque<Pod> pods_;    // stable addresses: endpoints point at them
  std::deque<Flow> flows_;  // views point at them
};

live::Status status() {
  live::Status st;
  st.cluster = "lab demo";
  st.attach = "tcx, 8 interface(s) on 2 node(s), namespace ids: kern-ctx";
  st.clock = "06:19:40";
  return st;
}

live::UiState plain_state() {
  live::UiState s;
  s.color = false;
  return s;
}

void expect_fits(const live::Screen& screen, live::Size size) {
  ASSERT_EQ(screen.lines.size(), size.rows) << screen.text();
  for (const auto& l : screen.lines) EXPECT_LE(l.width(), size.cols) << "'" << l.text() << "'";
}

bool has(const live::Screen& screen, const std::string& needle) {
  return screen.text().find(needle) != std::string::npos;
}

/// The selected conversation's row ("▶ ..."), or "".
std::string selected_line(const live::Screen& screen) {
  for (const auto& l : screen.lines) {
    if (l.text().rfind("▶ ", 0) == 0) return l.text();
  }
  return "";
}

live::Effect press(live::UiState& s, const Key& k, const std::vector<out::ConversationView>& views,
                   const live::FilterParser& parse = nullptr) {
  const auto rows = live::visible(views, s);
  return live::reduce(s, k, rows, 5, parse);
}

live::Effect type(live::UiState& s, const std::string& text,
                  const std::vector<out::ConversationView>& views) {
  live::Effect e = live::Effect::None;
  for (const char c : text) e = press(s, Key::character(static_cast<char32_t>(c)), views);
  return e;
}

}  // namespace

TEST(LiveScreen, ShortPodNamesDropGeneratedSuffixes) {
  EXPECT_EQ(live::short_pod_name("web-qs4vtwsfgf-nmtqp"), "web");
  EXPECT_EQ(live::short_pod_name("coredns-5d78c9869d-abcde"), "coredns");
  EXPECT_EQ(live::short_pod_name("kube-proxy-x2k4q"), "kube-proxy");
  EXPECT_EQ(live::short_pod_name("db-0"), "db-0");
  EXPECT_EQ(live::short_pod_name("my-nginx"), "my-nginx");    // a word, not a generated suffix
  EXPECT_EQ(live::short_pod_name("my-app-x2k4q"), "my-app");  // DaemonSet-like
  EXPECT_EQ(live::short_pod_name("broken-0"), "broken-0");
  EXPECT_EQ(live::short_pod_name("-abcde"), "-abcde");
}

TEST(LiveScreen, StyledTextBecomesSpans) {
  const out::Style style(true);
  const live::Line l =
      live::parse_styled("10.10.129." + style.yellow("2") + " " + style.red("MISSING") + " x");
  ASSERT_EQ(l.spans.size(), 5u);
  EXPECT_EQ(l.spans[0].text, "10.10.129.");
  EXPECT_EQ(l.spans[1].text, "2");
  EXPECT_EQ(l.spans[1].attr.color, live::Color::Yellow);
  EXPECT_TRUE(l.spans[1].attr.bold);
  EXPECT_EQ(l.spans[2].attr, live::Attr{});
  EXPECT_EQ(l.spans[3].attr.color, live::Color::Red);
  EXPECT_EQ(l.spans[4].attr, live::Attr{});
  EXPECT_EQ(l.text(), "10.10.129.2 MISSING x");
  EXPECT_EQ(l.width(), 21u);
}

TEST(LiveScreen, FitCutsByCharactersAndEndsWithAnEllipsis) {
  live::Line l = live::parse_styled("veth ▸ cbr0 ▸ eth0 ⇢ gw");
  EXPECT_EQ(live::fit(l, 30).text(), "veth ▸ cbr0 ▸ eth0 ⇢ gw");
  EXPECT_EQ(live::fit(l, 8).text(), "veth ▸ …");
  EXPECT_EQ(live::fit(l, 8).width(), 8u);
  EXPECT_EQ(live::fit(l, 0).width(), 0u);
}

TEST(LiveScreen, WideTerminalShowsFullNamesAndTheSpacedPath) {
  Cluster c;
  const std::vector<out::ConversationView> views{c.cross_node(47, 2), c.same_node(11, 2)};
  const live::Size size{60, 200};
  const auto screen = live::render(views, status(), plain_state(), size);
  expect_fits(screen, size);
  const std::string header = screen.lines[0].text();
  EXPECT_EQ(header.rfind(" podpath trace · lab demo · tcx, 8 interface(s) on 2 node(s)", 0), 0u) << header;
  EXPECT_NE(header.find("health ok · 06:19:40"), std::string::npos) << header;
  EXPECT_TRUE(screen.lines[0].spans[0].attr.reverse);
  EXPECT_NE(screen.lines[1].text().find("FROM"), std::string::npos);
  EXPECT_NE(screen.lines[1].text().find("RATE▾"), std::string::npos);
  const std::string row = selected_line(screen);
  EXPECT_EQ(row.rfind("▶ default/web-qs4vtwsfgf-nmtqp 10.10.129.2 → default/cache", 0), 0u) << screen.text();
  EXPECT_NE(row.find("→ default/cache-sfqzj7bn7t-nqj84 10.10.130.3"), std::string::npos) << screen.text();
  EXPECT_NE(row.find("  ICMP   "), std::string::npos) << row;  // padded like "UDP 55233→9000"
  EXPECT_NE(row.find("  veth ▸ cbr0 ▸ eth0 ⇢ gw ⇢ eth0 ▸ cbr0 ▸ veth  2 pkt/s"), std::string::npos) << row;
  EXPECT_NE(row.find("2 pkt/s"), std::string::npos) << row;
  EXPECT_NE(row.find("47 pkt"), std::string::npos) << row;
  EXPECT_TRUE(has(screen, "UDP 55233→9000  veth ▸ veth")) << screen.text();
  // The reply path under its conversation, then the selected one hop by hop (the
  // snapshot's renderer), reply included.
  EXPECT_TRUE(has(screen, "    ↩ ")) << screen.text();
  EXPECT_TRUE(has(screen, "  node1    vethe74f2ead  ingress       47 pkt  from pod web")) << screen.text();
  EXPECT_TRUE(has(screen, "  node2    vethc67de299  egress        47 pkt  to pod cache")) << screen.text();
  EXPECT_TRUE(has(screen, "⇒ delivered to pod default/cache on node2")) << screen.text();
  EXPECT_TRUE(has(screen, "  ↩ default/cache-sfqzj7bn7t-nqj84 10.10.130.3 → default/web")) << screen.text();
  const std::string last = screen.lines.back().text();
  EXPECT_NE(last.find(" 2 conversations · sort: rate"), std::string::npos) << last;
  EXPECT_NE(last.find("? help  q quit"), std::string::npos) << last;
}

TEST(LiveScreen, NamesOthersChoseShowNoEscapeSequence) {
  // Issue 15 item 12: a pod with CAP_NET_ADMIN names its interfaces.
  Cluster c;
  std::vector<out::ConversationView> views{c.cross_node(47, 2)};
  views[0].forward.path.hops[1].interface = "e\x1b]0;pwn\x07\x1b[2J";
  views[0].forward.path.hops[1].role = InterfaceRole::Other;
  const auto screen = live::render(views, status(), plain_state(), live::Size{60, 200});
  EXPECT_EQ(screen.text().find('\x1b'), std::string::npos);
  EXPECT_TRUE(has(screen, "e\\x1b]0;pwn\\x07\\x1b[2J")) << screen.text();
}

TEST(LiveScreen, EightyColumnsShortenNamesAndThePathButKeepEveryHop) {
  Cluster c;
  const std::vector<out::ConversationView> views{c.cross_node(47, 2), c.same_node(11, 2)};
  const live::Size size{24, 80};
  const auto screen = live::render(views, status(), plain_state(), size);
  expect_fits(screen, size);
  const std::string row = screen.lines[2].text();
  // Names without the generated suffixes, the 4th octet for the IP.
  EXPECT_EQ(row.rfind("▶ web .2 → cache .3  ICMP", 0), 0u) << screen.text();
  EXPECT_NE(row.find("veth▸cbr0▸eth0⇢gw⇢eth0▸cbr0▸veth"), std::string::npos) << row;
  EXPECT_NE(row.find("47 pkt"), std::string::npos) << row;
  EXPECT_NE(screen.lines[0].text().find("06:19:40"), std::string::npos) << screen.lines[0].text();
  // All six observed request hops are on screen.
  for (const char* hop :
       {"node1    vethe74f2ead  ingress", "node1    cbr0          ingress", "node1    eth0          egress",
        "node2    eth0          ingress", "node2    cbr0          egress", "node2    vethc67de299  egress"}) {
    EXPECT_TRUE(has(screen, hop)) << hop << "\n" << screen.text();
  }
}

TEST(LiveScreen, TinyTerminalsStillFit) {
  Cluster c;
  const std::vector<out::ConversationView> views{c.cross_node(47, 2), c.same_node(11, 2)};
  for (const live::Size size : {live::Size{5, 20}, live::Size{3, 10}, live::Size{1, 1}, live::Size{12, 40}}) {
    const auto screen = live::render(views, status(), plain_state(), size);
    expect_fits(screen, size);
  }
  EXPECT_TRUE(live::render(views, status(), plain_state(), {0, 0}).lines.empty());
}

TEST(LiveScreen, MissingHopIsRedWithColourAndCrossedWithout) {
  Cluster c;
  const std::vector<out::ConversationView> views{c.cross_node(5, 1, 4)};
  const live::Size size{30, 200};
  const auto plain = live::render(views, status(), plain_state(), size);
  EXPECT_TRUE(has(plain, "veth ▸ cbr0 ▸ eth0 ⇢ gw ⇢ ✗eth0 ▸ ✗cbr0 ▸ ✗veth")) << plain.text();

  live::UiState colour;
  const auto coloured = live::render(views, status(), colour, size);
  EXPECT_FALSE(has(coloured, "✗")) << coloured.text();
  bool red_eth0 = false, yellow_octet = false;
  for (const auto& l : coloured.lines) {
    for (const auto& s : l.spans) {
      red_eth0 = red_eth0 || (s.text == "eth0" && s.attr.color == live::Color::Red);
      yellow_octet = yellow_octet || (s.text == "2" && s.attr.color == live::Color::Yellow && s.attr.bold);
    }
  }
  EXPECT_TRUE(red_eth0) << "the missing node2 eth0 hop is red";
  EXPECT_TRUE(yellow_octet) << "the 4th octet of 10.10.129.2 is highlighted";
}

TEST(LiveScreen, HealthLossShowsInTheHeader) {
  Cluster c;
  live::Status st = status();
  st.counters[podpath::bpf::FlowCounter::EventsLost] = 3;
  st.container_flows_lost = 2;
  const auto screen = live::render({c.cross_node(1, 1)}, st, plain_state(), {24, 100});
  EXPECT_NE(screen.lines[0].text().find("health: 5 lost · 06:19:40"), std::string::npos)
      << screen.lines[0].text();
}

TEST(LiveScreen, NoFlowsYet) {
  const auto screen = live::render({}, status(), plain_state(), {24, 80});
  EXPECT_TRUE(has(screen, "no flows yet")) << screen.text();
  EXPECT_TRUE(has(screen, " 0 conversations")) << screen.text();
  Cluster c;
  EXPECT_EQ(live::render({c.same_node(1, 1)}, status(), plain_state(), {24, 80})
                .lines.back()
                .text()
                .rfind(" 1 conversation · sort: rate", 0),
            0u);
}

TEST(LiveKeys, SelectionMovesAndFollowsItsConversationWhenTheOrderChanges) {
  Cluster c;
  std::vector<out::ConversationView> views{c.cross_node(47, 2), c.same_node(11, 1)};
  live::UiState s = plain_state();
  EXPECT_EQ(live::selected_index(s, live::visible(views, s)), 0u);
  EXPECT_EQ(press(s, Key::of(KeyCode::Down), views), live::Effect::Redraw);
  EXPECT_EQ(live::selected_index(s, live::visible(views, s)), 1u);
  EXPECT_EQ(press(s, Key::character(U'j'), views), live::Effect::Redraw);  // stays on the last
  EXPECT_EQ(live::selected_index(s, live::visible(views, s)), 1u);
  EXPECT_NE(selected_line(live::render(views, status(), s, {24, 200})).find("UDP"), std::string::npos);

  // The UDP conversation becomes the busiest: it moves to the top, the selection with it.
  views[1] = c.same_node(500, 90);
  EXPECT_EQ(live::selected_index(s, live::visible(views, s)), 0u);
  EXPECT_NE(live::render(views, status(), s, {24, 200})
                .lines[2]
                .text()
                .find("▶ default/web-qs4vtwsfgf-nmtqp 10.10.129.2 → default/api"),
            std::string::npos);
  press(s, Key::character(U'k'), views);
  press(s, Key::of(KeyCode::End), views);
  EXPECT_EQ(live::selected_index(s, live::visible(views, s)), 1u);
  press(s, Key::of(KeyCode::Home), views);
  EXPECT_EQ(live::selected_index(s, live::visible(views, s)), 0u);
}

TEST(LiveKeys, EnterCollapsesSortPauseReplyHelpQuit) {
  Cluster c;
  const std::vector<out::ConversationView> views{c.cross_node(47, 2), c.same_node(11, 1)};
  live::UiState s = plain_state();
  press(s, Key::of(KeyCode::Enter), views);
  EXPECT_FALSE(s.expanded);
  EXPECT_FALSE(has(live::render(views, status(), s, {40, 200}), "⇒ delivered"));
  press(s, Key::character(U's'), views);
  EXPECT_EQ(s.sort, out::SortKey::Packets);
  EXPECT_TRUE(has(live::render(views, status(), s, {40, 200}), "PACKETS▾"));
  press(s, Key::character(U's'), views);
  EXPECT_EQ(s.sort, out::SortKey::Bytes);
  EXPECT_TRUE(has(live::render(views, status(), s, {40, 200}), "4.5 KiB"));
  press(s, Key::character(U's'), views);
  EXPECT_EQ(s.sort, out::SortKey::Rate);
  press(s, Key::character(U'p'), views);
  EXPECT_TRUE(s.paused);
  EXPECT_TRUE(has(live::render(views, status(), s, {40, 200}), "PAUSED"));
  press(s, Key::character(U'r'), views);
  EXPECT_FALSE(s.show_reply);
  EXPECT_FALSE(has(live::render(views, status(), s, {40, 200}), "↩"));
  press(s, Key::character(U'?'), views);
  EXPECT_EQ(s.mode, live::Mode::Help);
  EXPECT_TRUE(has(live::render(views, status(), s, {40, 200}), "q  Ctrl-C     quit"));
  press(s, Key::character(U'x'), views);
  EXPECT_EQ(s.mode, live::Mode::List);
  EXPECT_EQ(press(s, Key::character(U'z'), views), live::Effect::None);
  EXPECT_EQ(press(s, Key::of(KeyCode::Resize), views), live::Effect::Redraw);
  EXPECT_EQ(press(s, Key::character(U'q'), views), live::Effect::Quit);
}

TEST(LiveKeys, TypedFilterNarrowsTheListAndABadOneKeepsTheOld) {
  Cluster c;
  const std::vector<out::ConversationView> views{c.cross_node(47, 2), c.same_node(11, 1)};
  live::UiState s = plain_state();
  std::vector<std::string> parsed;
  const live::FilterParser parse = [&](const std::string& text) -> podpath::Result<out::FlowFilter> {
    parsed.push_back(text);
    if (text.find("quic") != std::string::npos) return podpath::make_error(EINVAL, "unknown protocol 'quic'");
    out::FlowFilter f;
    if (text.find("udp") != std::string::npos) f.protos.push_back(IPPROTO_UDP);
    return f;
  };
  press(s, Key::character(U'/'), views);
  EXPECT_EQ(s.mode, live::Mode::Filter);
  type(s, "--proto quic", views);
  EXPECT_EQ(s.input, "--proto quic");
  EXPECT_EQ(press(s, Key::character(U'q'), views), live::Effect::Redraw);  // typed, not quit
  press(s, Key::of(KeyCode::Backspace), views);
  press(s, Key::of(KeyCode::Enter), views, parse);
  EXPECT_EQ(s.mode, live::Mode::Filter);
  EXPECT_EQ(s.error, "unknown protocol 'quic'");
  EXPECT_TRUE(s.filter.empty());
  const auto refused = live::render(views, status(), s, {24, 120});
  EXPECT_NE(refused.lines.back().text().find("/--proto quic   ✗ unknown protocol 'quic'"), std::string::npos)
      << refused.lines.back().text();
  EXPECT_EQ(live::visible(views, s).size(), 2u) << "the old filter still applies";

  press(s, Key::character(live::kCtrlU), views);  // clears the line
  type(s, " --proto udp ", views);
  press(s, Key::of(KeyCode::Enter), views, parse);
  EXPECT_EQ(s.mode, live::Mode::List);
  EXPECT_EQ(s.filter_text, "--proto udp");
  const auto narrowed = live::render(views, status(), s, {24, 120});
  EXPECT_NE(narrowed.lines.back().text().find(" 1 of 2 conversations · sort: rate · filter: --proto udp"),
            std::string::npos)
      << narrowed.lines.back().text();
  EXPECT_FALSE(has(narrowed, "ICMP"));

  // Control traffic (here IPv6 neighbour discovery) is in neither count.
  auto with_nd = views;
  with_nd.push_back(c.neighbour_discovery());
  EXPECT_NE(live::render(with_nd, status(), s, {24, 120}).lines.back().text().find(" 1 of 2 conversations"),
            std::string::npos);

  // '/' starts from the active filter; Esc keeps it.
  press(s, Key::character(U'/'), views);
  EXPECT_EQ(s.input, "--proto udp");
  type(s, "x", views);
  press(s, Key::of(KeyCode::Escape), views);
  EXPECT_EQ(s.mode, live::Mode::List);
  EXPECT_EQ(s.filter_text, "--proto udp");
  EXPECT_EQ(parsed, (std::vector<std::string>{"--proto quic", " --proto udp "}));
}

TEST(LiveScreen, RowsOfAboutTheSameRateKeepTheirPlace) {
  Cluster c;
  live::UiState s = plain_state();
  std::vector<out::ConversationView> views{c.cross_node(47, 1), c.same_node(11, 2.2)};  // 2 and 2.2 pkt/s
  EXPECT_EQ(live::visible(views, s)[0].forward.flow->key.proto, IPPROTO_UDP);           // sorted afresh
  s.order = live::order_of({views[0], views[1]});                                       // ICMP above UDP
  EXPECT_EQ(live::visible(views, s)[0].forward.flow->key.proto, IPPROTO_ICMP)
      << "10 % more is no reason to swap";
  views[1] = c.same_node(12, 3);
  EXPECT_EQ(live::visible(views, s)[0].forward.flow->key.proto, IPPROTO_UDP) << "50 % more is";
  // A new conversation comes in below, then rises as far as it clearly beats the others.
  s.order = live::order_of({views[0]});
  views[1] = c.same_node(12, 2.1);
  EXPECT_EQ(live::visible(views, s)[1].forward.flow->key.proto, IPPROTO_UDP);
  press(s, Key::character(U's'), views);
  EXPECT_TRUE(s.order.empty()) << "a new sort starts afresh";
}

TEST(LiveKeys, LimitKeepsTheBusiest) {
  Cluster c;
  const std::vector<out::ConversationView> views{c.cross_node(47, 2), c.same_node(11, 9)};
  live::UiState s = plain_state();
  s.limit = 1;
  const auto rows = live::visible(views, s);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].forward.flow->key.proto, IPPROTO_UDP);
}

// BPF tier: the drop program (tp_btf/kfree_skb) loaded and attached for real. Drops are
// caused inside a network namespace the test creates (pptest-<pid>-drop, deleted in
// TearDown): a UDP datagram to a closed port (NO_SOCKET), one blocked by an iptables
// OUTPUT rule (NETFILTER_DROP); consumed packets (a datagram read by its socket, an echo
// answered) must leave no record, nor drops outside the tracked CIDRs.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "../common/frames.hpp"
#include "../common/require_root.hpp"
#include "bpf/drops.hpp"
#include "net/netns.hpp"
#include "util/kallsyms.hpp"

using podpath::bpf::DropCounter;
using podpath::bpf::DropEvent;
using podpath::bpf::DropOptions;
using podpath::bpf::DropTracker;
using podpath::model::Cidr;
using podpath::model::IpAddress;

namespace {

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

class DropTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODPATH_REQUIRE_ROOT();
    ns_ = "pptest-" + std::to_string(::getpid()) + "-drop";
    ASSERT_EQ(sh("ip netns add " + ns_), 0);
    ASSERT_EQ(sh("ip -n " + ns_ + " link set lo up"), 0);
    const auto cookie = podpath::net::netns_cookie(ns_);
    ASSERT_TRUE(cookie) << cookie.error().to_string();
    cookie_ = *cookie;
  }
  void TearDown() override {
    tracker_.reset();
    if (!ns_.empty()) sh("ip netns del " + ns_);
  }

  void start(DropOptions options = {}, const std::vector<std::string>& cidrs = {"127.0.0.0/8"}) {
    tracker_.reset();
    events_.clear();
    auto t = DropTracker::start(options, [this](const DropEvent& e) {
      if (e.netns_cookie == cookie_) events_.push_back(e);
    });
    ASSERT_TRUE(t) << t.error().to_string();
    tracker_ = std::move(*t);
    std::vector<Cidr> tracked;
    for (const auto& c : cidrs) tracked.push_back(*Cidr::parse(c));
    ASSERT_TRUE(tracker_->set_cidrs(tracked));
  }

  // A UDP socket in the test namespace bound to 127.0.0.1:port (0 = any); returns its port.
  podpath::Fd udp_socket(std::uint16_t& port) {
    auto fd = podpath::net::socket_in_netns(ns_, AF_INET, SOCK_DGRAM, 0);
    EXPECT_TRUE(fd);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    EXPECT_EQ(bind(fd->get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd->get(), reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    return std::move(*fd);
  }

  static void send_to(int fd, const char* ip, std::uint16_t port) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &to.sin_addr);
    to.sin_port = htons(port);
    const char msg[] = "podpath drop test";
    sendto(fd, msg, sizeof(msg), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  }

  // Polls until an event for UDP source port `sport` arrived or `ms` passed.
  std::vector<DropEvent> events_for(std::uint16_t sport, int ms = 2000) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    std::vector<DropEvent> out;
    while (std::chrono::steady_clock::now() < until) {
      EXPECT_TRUE(tracker_->poll(50));
      out.clear();
      for (const auto& e : events_) {
        if (e.key.proto == IPPROTO_UDP && e.key.sport == sport) out.push_back(e);
      }
      if (!out.empty()) break;
    }
    return out;
  }

  std::string ns_;
  std::uint64_t cookie_ = 0;
  std::unique_ptr<DropTracker> tracker_;
  std::vector<DropEvent> events_;
};

}  // namespace

TEST_F(DropTrackerTest, FeatureProbeFindsTheTracepoint) {
  const auto f = podpath::bpf::probe_drop_features();
  EXPECT_TRUE(f.kfree_skb_btf);
  EXPECT_GE(f.tracepoint_args, 2);
  if (f.reasons) {
    const auto names = podpath::bpf::DropReasonNames::from_kernel();
    ASSERT_FALSE(names.empty());
    // Names come from the kernel's own enum, whatever its numbering.
    const auto v = names.value("NETFILTER_DROP");
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(names.name(*v), "NETFILTER_DROP");
  }
}

TEST_F(DropTrackerTest, UdpToAClosedPortIsANoSocketDropInTheNamespace) {
  start();
  if (!tracker_) return;
  std::uint16_t sport = 0;
  auto s = udp_socket(sport);
  send_to(s.get(), "127.0.0.1", 9);
  const auto got = events_for(sport);
  ASSERT_EQ(got.size(), 1u);
  const DropEvent& e = got.front();
  EXPECT_EQ(e.key.src, *IpAddress::parse("127.0.0.1"));
  EXPECT_EQ(e.key.dst, *IpAddress::parse("127.0.0.1"));
  EXPECT_EQ(e.key.dport, 9);
  EXPECT_EQ(e.ifname, "lo");
  EXPECT_EQ(e.ifindex, 1u);
  EXPECT_EQ(e.ttl, 64);
  EXPECT_GT(e.ts_ns, 0u);
  EXPECT_NE(e.location, 0u);
  if (tracker_->reasons()) {
    EXPECT_TRUE(e.has_reason);
    EXPECT_EQ(e.reason_name, "NO_SOCKET");
  }
  const auto syms = podpath::Kallsyms::load();
  ASSERT_TRUE(syms);
  if (!syms->addresses_hidden()) {
    EXPECT_NE(syms->symbolize(e.location).find("udp"), std::string::npos) << syms->symbolize(e.location);
  }
  const auto c = tracker_->read_counters();
  ASSERT_TRUE(c);
  EXPECT_GE((*c)[DropCounter::Recorded], 1u);
  EXPECT_GE((*c)[DropCounter::Calls], (*c)[DropCounter::Recorded]);
}

TEST_F(DropTrackerTest, FirewallDropIsNetfilterDrop) {
  start();
  if (!tracker_) return;
  ASSERT_EQ(sh("ip netns exec " + ns_ + " iptables -w -A OUTPUT -d 127.0.0.2 -p udp -j DROP"), 0)
      << "iptables is needed (scripts/install-deps)";
  std::uint16_t sport = 0;
  auto s = udp_socket(sport);
  send_to(s.get(), "127.0.0.2", 7777);
  const auto got = events_for(sport);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got.front().key.dst, *IpAddress::parse("127.0.0.2"));
  if (tracker_->reasons()) {
    EXPECT_EQ(got.front().reason_name, "NETFILTER_DROP");
  }
  const auto syms = podpath::Kallsyms::load();
  ASSERT_TRUE(syms);
  if (!syms->addresses_hidden()) {
    // nf_hook_slow, or the nf_tables function that gave the verdict (newer kernels).
    EXPECT_EQ(syms->symbolize(got.front().location).rfind("nf", 0), 0u)
        << syms->symbolize(got.front().location);
  }
}

TEST_F(DropTrackerTest, ConsumedPacketsLeaveNoRecord) {
  start();
  if (!tracker_) return;
  const auto before = tracker_->read_counters();
  ASSERT_TRUE(before);
  std::uint16_t rport = 0;
  auto receiver = udp_socket(rport);
  std::uint16_t sport = 0;
  auto sender = udp_socket(sport);
  for (int i = 0; i < 20; ++i) send_to(sender.get(), "127.0.0.1", rport);
  char buf[64];
  int received = 0;
  for (int i = 0; i < 20; ++i) {
    if (recv(receiver.get(), buf, sizeof(buf), MSG_DONTWAIT) > 0) ++received;
  }
  EXPECT_EQ(received, 20);
  // An ICMP echo answered by the namespace's own stack (request and reply consumed).
  auto ping = podpath::net::socket_in_netns(ns_, AF_INET, SOCK_RAW, IPPROTO_ICMP);
  ASSERT_TRUE(ping);
  unsigned char echo[8] = {ICMP_ECHO, 0, 0, 0, 0x12, 0x34, 0, 1};
  unsigned sum = 0;
  for (int i = 0; i < 8; i += 2) sum += static_cast<unsigned>(echo[i] << 8 | echo[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  echo[2] = static_cast<unsigned char>(~sum >> 8);
  echo[3] = static_cast<unsigned char>(~sum & 0xff);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(sendto(ping->get(), echo, sizeof(echo), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 8);
  EXPECT_TRUE(events_for(sport, 500).empty());
  for (const auto& e : events_)
    ADD_FAILURE() << "unexpected drop " << e.reason_name << " proto " << int(e.key.proto);
}

TEST_F(DropTrackerTest, L4BytesBeyondThePacketsIpLengthAreNeverRead) {
  start();
  if (!tracker_) return;
  // An IPv4 header that carries no L4 bytes (total length 20) and a wrong checksum, so
  // ip_rcv drops it before trimming; 16 bytes that look like a UDP header follow it in
  // the frame. They are not part of the IP packet: the drop must show ports 0.
  constexpr std::uint16_t kIpId = 0x5eed;
  auto frame = podpath::testing::FrameBuilder()
                   .eth(podpath::testing::kEthIpv4)
                   .ipv4("127.0.0.1", "127.0.0.1", IPPROTO_UDP, 0)
                   .udp(0x4242, 0x4343)
                   .payload(8)
                   .build();
  frame[0] = frame[1] = frame[2] = frame[3] = frame[4] = frame[5] = 0;  // lo's address: to this host
  frame[14 + 4] = kIpId >> 8;
  frame[14 + 5] = kIpId & 0xff;
  frame[14 + 10] = 0xde;  // not the header's checksum
  frame[14 + 11] = 0xad;
  auto raw = podpath::net::socket_in_netns(ns_, AF_PACKET, SOCK_RAW, 0);
  ASSERT_TRUE(raw) << raw.error().to_string();
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = 1;  // lo
  to.sll_protocol = htons(ETH_P_IP);
  ASSERT_EQ(sendto(raw->get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)),
            static_cast<ssize_t>(frame.size()));

  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  const DropEvent* got = nullptr;
  while (got == nullptr && std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(tracker_->poll(50));
    for (const auto& e : events_) {
      if (e.ip_id == kIpId) got = &e;
    }
  }
  ASSERT_NE(got, nullptr) << "no drop event for the crafted packet";
  EXPECT_EQ(got->key.proto, IPPROTO_UDP);
  EXPECT_EQ(got->ip_len, 20);
  EXPECT_EQ(got->key.sport, 0) << "read a port from beyond the IP packet";
  EXPECT_EQ(got->key.dport, 0) << "read a port from beyond the IP packet";
  if (tracker_->reasons()) {
    EXPECT_EQ(got->reason_name, "IP_CSUM");
  }
}

TEST_F(DropTrackerTest, DropsOutsideTheTrackedCidrsAreOnlyCounted) {
  start({}, {"10.99.0.0/16"});
  if (!tracker_) return;
  const auto before = tracker_->read_counters();
  ASSERT_TRUE(before);
  std::uint16_t sport = 0;
  auto s = udp_socket(sport);
  send_to(s.get(), "127.0.0.1", 9);
  EXPECT_TRUE(events_for(sport, 300).empty());
  const auto after = tracker_->read_counters();
  ASSERT_TRUE(after);
  EXPECT_GT((*after)[DropCounter::Untracked], (*before)[DropCounter::Untracked]);
}

TEST_F(DropTrackerTest, LocationOnlyModeLoadsAndSaysSo) {
  DropOptions o;
  o.force_location_only = true;
  start(o);
  if (!tracker_) return;
  EXPECT_FALSE(tracker_->reasons());
  EXPECT_NE(tracker_->describe().find("location"), std::string::npos);
  std::uint16_t sport = 0;
  auto s = udp_socket(sport);
  send_to(s.get(), "127.0.0.1", 9);
  const auto got = events_for(sport);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got.front().has_reason);
  EXPECT_TRUE(got.front().reason_name.empty());
  EXPECT_NE(got.front().location, 0u);
}

// BPF tier: the real cgroup_flow object loaded into the kernel and run on crafted packets
// (BPF_PROG_TEST_RUN for cgroup_skb). The kernel gives the test skb a socket of this
// process's cgroup and network namespace, so each case can assert the exact key (cgroup
// id, namespace cookie, local/remote end) and counters.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "../common/frames.hpp"
#include "../common/require_root.hpp"
#include "bpf/cgroup_datapath.hpp"
#include "cgroup_test_util.hpp"
#include "podpath_abi.h"
#include "util/system.hpp"

using podpath::bpf::CgroupDatapath;
using podpath::bpf::CgroupDatapathOptions;
using podpath::bpf::CgroupFlowRecord;
using podpath::bpf::CgroupNetnsMode;
using podpath::model::IpAddress;
using namespace podpath::testing;

namespace {

constexpr std::uint32_t kAllow = 1;
constexpr std::size_t kEthLen = 14;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

class CgroupFlowTest : public ::testing::TestWithParam<CgroupNetnsMode> {
 protected:
  void SetUp() override {
    PODPATH_REQUIRE_ROOT();
    static const auto probed = podpath::bpf::probe_cgroup_features();  // once: it loads programs
    features_ = probed;
    if (!features_.cgroup_skb) GTEST_SKIP() << "no cgroup_skb programs on this kernel";
    mode_ = GetParam();
    if ((mode_ == CgroupNetnsMode::Helper && !features_.netns_helper) ||
        (mode_ == CgroupNetnsMode::KernCtx && !features_.kern_ctx) ||
        (mode_ == CgroupNetnsMode::SockCast && !features_.sock_cast)) {
      GTEST_SKIP() << "namespace mode " << podpath::bpf::to_string(mode_) << " not available on this kernel";
    }
    load({});
    cgroup_id_ = inode_of(own_cgroup_dir());
    ASSERT_NE(cgroup_id_, 0u) << "cannot find this process's cgroup v2 directory";
  }

  void load(CgroupDatapathOptions options) {
    dp_.reset();
    options.netns_mode = mode_;
    options.coarse_clock = features_.coarse_clock;
    auto dp = CgroupDatapath::load(options);
    ASSERT_TRUE(dp) << dp.error().to_string();
    dp_ = std::move(*dp);
  }

  // Runs `frame` through a program; asserts "allow" and an unchanged IP packet.
  void run(const FrameBuilder::Bytes& frame, bool egress, std::uint32_t repeat = 1,
           std::uint32_t gso_segs = 0) {
    const auto r = cg_test_run(egress ? dp_->egress_fd() : dp_->ingress_fd(), frame, repeat, gso_segs);
    ASSERT_EQ(r.err, 0) << "BPF_PROG_TEST_RUN failed";
    EXPECT_EQ(r.retval, kAllow);
    ASSERT_GE(r.data_out.size(), kEthLen);
    EXPECT_TRUE(
        std::equal(frame.begin() + kEthLen, frame.end(), r.data_out.begin() + kEthLen, r.data_out.end()))
        << "the program changed the packet";
  }

  std::vector<CgroupFlowRecord> flows() {
    auto f = dp_->read_flows();
    EXPECT_TRUE(f) << f.error().to_string();
    return f ? *f : std::vector<CgroupFlowRecord>{};
  }

  CgroupFlowRecord only_flow() {
    auto f = flows();
    EXPECT_EQ(f.size(), 1u);
    return f.empty() ? CgroupFlowRecord{} : f.front();
  }

  // Counters by the kernel's index (enum pp_cg_counter): the slot the programs write.
  std::uint64_t counter(pp_cg_counter c) {
    auto cs = dp_->read_counters();
    EXPECT_TRUE(cs) << cs.error().to_string();
    return cs ? (*cs)[static_cast<podpath::bpf::CgroupCounter>(c)] : 0;
  }

  // The cookie the programs should record for the test socket: the current namespace, or
  // 0 where the mode cannot see it (no mode; SockCast and the test socket is not TCP/UDPv6).
  std::uint64_t expected_cookie() const {
    return mode_ == CgroupNetnsMode::Helper || mode_ == CgroupNetnsMode::KernCtx ? current_netns_cookie() : 0;
  }

  podpath::bpf::CgroupFeatures features_;
  CgroupNetnsMode mode_ = CgroupNetnsMode::None;
  std::unique_ptr<CgroupDatapath> dp_;
  std::uint64_t cgroup_id_ = 0;
};

FrameBuilder::Bytes tcp4(const char* src, const char* dst, std::uint16_t sport, std::uint16_t dport,
                         std::uint16_t payload = 0) {
  return FrameBuilder()
      .eth(kEthIpv4)
      .ipv4(src, dst, IPPROTO_TCP, static_cast<std::uint16_t>(20 + payload))
      .tcp(sport, dport, kTcpAck)
      .payload(payload)
      .build();
}

}  // namespace

TEST_P(CgroupFlowTest, EgressIsCountedUnderTheSocketsCgroupAndNamespace) {
  const auto frame = tcp4("10.10.129.2", "10.10.130.2", 43512, 5432, 10);
  run(frame, true, 3);
  const auto f = only_flow();
  EXPECT_EQ(f.cgroup_id, cgroup_id_);
  EXPECT_EQ(f.netns_cookie, expected_cookie());
  EXPECT_EQ(f.local, ip("10.10.129.2"));
  EXPECT_EQ(f.remote, ip("10.10.130.2"));
  EXPECT_EQ(f.local_port, 43512);
  EXPECT_EQ(f.remote_port, 5432);
  EXPECT_EQ(f.proto, IPPROTO_TCP);
  EXPECT_FALSE(f.ipv6);
  EXPECT_EQ(f.tx_packets, 3u);
  EXPECT_EQ(f.tx_bytes, 3u * (frame.size() - kEthLen));  // IP bytes: no Ethernet header
  EXPECT_EQ(f.rx_packets, 0u);
  EXPECT_EQ(f.rx_bytes, 0u);
  EXPECT_GT(f.first_seen_ns, 0u);
  EXPECT_GE(f.last_seen_ns, f.first_seen_ns);
  EXPECT_EQ(counter(PP_CG_CNT_PACKETS), 3u);
  EXPECT_EQ(counter(PP_CG_CNT_NEW_ENTRIES), 1u);
  EXPECT_EQ(counter(PP_CG_CNT_NO_CGROUP), 0u);
  EXPECT_EQ(counter(PP_CG_CNT_NETNS_UNKNOWN),
            mode_ == CgroupNetnsMode::SockCast ? 3u : 0u);  // the test socket is neither TCP nor UDPv6
}

TEST_P(CgroupFlowTest, BothDirectionsOfAConnectionShareOneEntry) {
  const auto out = tcp4("10.10.129.2", "10.10.130.2", 43512, 5432, 100);
  const auto in = tcp4("10.10.130.2", "10.10.129.2", 5432, 43512, 0);
  run(out, true, 2);
  run(in, false, 5);
  const auto f = only_flow();
  EXPECT_EQ(f.local, ip("10.10.129.2"));
  EXPECT_EQ(f.local_port, 43512);
  EXPECT_EQ(f.remote, ip("10.10.130.2"));
  EXPECT_EQ(f.remote_port, 5432);
  EXPECT_EQ(f.tx_packets, 2u);
  EXPECT_EQ(f.tx_bytes, 2u * (out.size() - kEthLen));
  EXPECT_EQ(f.rx_packets, 5u);
  EXPECT_EQ(f.rx_bytes, 5u * (in.size() - kEthLen));
}

TEST_P(CgroupFlowTest, IngressLocalEndIsTheDestination) {
  run(tcp4("10.0.0.9", "10.10.129.3", 1234, 8080), false);
  const auto f = only_flow();
  EXPECT_EQ(f.local, ip("10.10.129.3"));
  EXPECT_EQ(f.local_port, 8080);
  EXPECT_EQ(f.remote, ip("10.0.0.9"));
  EXPECT_EQ(f.remote_port, 1234);
  EXPECT_EQ(f.rx_packets, 1u);
  EXPECT_EQ(f.tx_packets, 0u);
}

TEST_P(CgroupFlowTest, IcmpEchoRequestAndReplyShareAnEntryKeyedByIdentifier) {
  run(FrameBuilder()
          .eth(kEthIpv4)
          .ipv4("10.10.129.2", "10.10.130.2", IPPROTO_ICMP, 8)
          .icmp(8, 0, 0x4242, 1)
          .build(),
      true);
  run(FrameBuilder()
          .eth(kEthIpv4)
          .ipv4("10.10.130.2", "10.10.129.2", IPPROTO_ICMP, 8)
          .icmp(0, 0, 0x4242, 1)
          .build(),
      false);
  const auto f = only_flow();
  EXPECT_EQ(f.proto, IPPROTO_ICMP);
  EXPECT_EQ(f.local, ip("10.10.129.2"));
  EXPECT_EQ(f.local_port, 0x4242);
  EXPECT_EQ(f.remote_port, 0);
  EXPECT_EQ(f.tx_packets, 1u);
  EXPECT_EQ(f.rx_packets, 1u);
}

TEST_P(CgroupFlowTest, Ipv6Udp) {
  const auto frame = FrameBuilder()
                         .eth(kEthIpv6)
                         .ipv6("fd00::2", "fd00::3", IPPROTO_UDP, 8 + 32)
                         .udp(40001, 53, 32)
                         .payload(32)
                         .build();
  run(frame, true);
  const auto f = only_flow();
  EXPECT_TRUE(f.ipv6);
  EXPECT_EQ(f.local, ip("fd00::2"));
  EXPECT_EQ(f.remote, ip("fd00::3"));
  EXPECT_EQ(f.local_port, 40001);
  EXPECT_EQ(f.remote_port, 53);
  EXPECT_EQ(f.proto, IPPROTO_UDP);
  EXPECT_EQ(f.tx_bytes, frame.size() - kEthLen);
}

TEST_P(CgroupFlowTest, GsoSkbCountsEverySegmentWithItsHeaders) {
  // One TSO super-packet of 4 segments: 4 packets on the wire, each with IP + TCP headers.
  const auto frame = tcp4("10.10.129.2", "10.10.130.2", 40000, 80, 400);
  run(frame, true, 1, 4);
  const auto f = only_flow();
  EXPECT_EQ(f.tx_packets, 4u);
  EXPECT_EQ(f.tx_bytes, frame.size() - kEthLen + 3u * (20 + 20));
  EXPECT_EQ(counter(PP_CG_CNT_GSO), 1u);
}

TEST_P(CgroupFlowTest, NonIpAndMalformedPacketsAreCountedNotKeyed) {
  run(FrameBuilder().eth(kEthArp).payload(28).build(), true);
  EXPECT_EQ(counter(PP_CG_CNT_NON_IP), 1u);
  // An IPv4 header with IHL 4 (test runs refuse IPv4 packets shorter than a header).
  run(FrameBuilder().eth(kEthIpv4).ipv4("10.0.0.2", "10.0.0.3", IPPROTO_UDP, 8, 0, {}, 4).udp(1, 2).build(),
      true);
  // A TCP header cut short.
  run(FrameBuilder().eth(kEthIpv4).ipv4("10.0.0.2", "10.0.0.3", IPPROTO_TCP, 20).payload(8).build(), false);
  EXPECT_TRUE(flows().empty());
  EXPECT_EQ(counter(PP_CG_CNT_PARSE_ERR), 2u);
  EXPECT_EQ(counter(PP_CG_CNT_PACKETS), 3u);
  auto kinds = dp_->read_parse_errors();
  ASSERT_TRUE(kinds);
  EXPECT_EQ((*kinds)[static_cast<podpath::bpf::FlowCounter>(PP_CNT_ERR_IPV4_HDR)], 1u);
  EXPECT_EQ((*kinds)[static_cast<podpath::bpf::FlowCounter>(PP_CNT_ERR_L4_TRUNC)], 1u);
}

// The programs' clock in each of its kinds (jiffies, the default; the coarse-clock helper;
// the precise clock) is CLOCK_MONOTONIC, never ahead of it and behind it by at most a couple
// of ticks, and it moves with it: the tracker expires idle entries by it.
TEST_P(CgroupFlowTest, TheProgramsClockFollowsClockMonotonicInEveryKind) {
  struct Kind {
    const char* name;
    bool coarse, jiffies;
  };
  const Kind kinds[] = {
      {"jiffies", true, true}, {"coarse-clock helper", true, false}, {"precise", false, false}};
  constexpr std::uint64_t kBehindAtMost = 50'000'000;  // HZ=100 ticks are 10 ms
  const auto frame = tcp4("10.10.129.2", "10.10.130.2", 43512, 5432);
  for (const Kind& k : kinds) {
    SCOPED_TRACE(k.name);
    if (k.coarse && !features_.coarse_clock) continue;  // no coarse clock in cgroup_skb here
    CgroupDatapathOptions o;
    o.coarse_clock = k.coarse;
    o.jiffies_clock = k.jiffies;
    load(o);
    const std::uint64_t before = podpath::monotonic_ns();
    run(frame, true);
    const std::uint64_t after = podpath::monotonic_ns();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::uint64_t before2 = podpath::monotonic_ns();
    run(frame, true);
    const std::uint64_t after2 = podpath::monotonic_ns();
    const auto f = only_flow();
    EXPECT_LE(f.first_seen_ns, after);
    EXPECT_GE(f.first_seen_ns + kBehindAtMost, before);
    EXPECT_LE(f.last_seen_ns, after2);
    EXPECT_GE(f.last_seen_ns + kBehindAtMost, before2);
    EXPECT_GE(f.last_seen_ns - f.first_seen_ns, 50'000'000u) << "the clock did not move";
  }
}

TEST_P(CgroupFlowTest, LaterFragmentsAreCountedWithoutPorts) {
  run(FrameBuilder().eth(kEthIpv4).ipv4("10.0.0.2", "10.0.0.3", IPPROTO_UDP, 100, 185).payload(100).build(),
      true);
  const auto f = only_flow();
  EXPECT_TRUE(f.fragment);
  EXPECT_EQ(f.local_port, 0);
  EXPECT_EQ(f.remote_port, 0);
  EXPECT_EQ(counter(PP_CG_CNT_FRAGMENTS), 1u);
}

TEST_P(CgroupFlowTest, FullMapIsCountedByErrnoNeverSilently) {
  load({.max_entries = 2});
  run(tcp4("10.0.0.2", "10.0.0.3", 1, 80), true);
  run(tcp4("10.0.0.2", "10.0.0.3", 2, 80), true);
  run(tcp4("10.0.0.2", "10.0.0.3", 3, 80), true);
  run(tcp4("10.0.0.2", "10.0.0.3", 1, 80), true);  // existing entries keep counting
  EXPECT_EQ(flows().size(), 2u);
  EXPECT_EQ(counter(PP_CG_CNT_INSERT_FULL), 1u);
  EXPECT_EQ(counter(PP_CG_CNT_NEW_ENTRIES), 2u);
}

TEST_P(CgroupFlowTest, EntriesCanBeDeletedAndCleared) {
  run(tcp4("10.0.0.2", "10.0.0.3", 1, 80), true);
  run(tcp4("10.0.0.2", "10.0.0.3", 2, 80), true);
  run(FrameBuilder().eth(kEthIpv6).ipv6("fd00::2", "fd00::3", IPPROTO_UDP, 8).udp(5, 53).build(), true);
  auto all = flows();
  ASSERT_EQ(all.size(), 3u);
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.local_port < b.local_port; });
  ASSERT_TRUE(dp_->delete_flows(std::span(all).first(1)));
  EXPECT_EQ(flows().size(), 2u);
  ASSERT_TRUE(dp_->delete_flows(std::span(all).first(1)));  // already gone: not an error
  ASSERT_TRUE(dp_->clear());
  EXPECT_TRUE(flows().empty());
}

INSTANTIATE_TEST_SUITE_P(NetnsModes, CgroupFlowTest,
                         ::testing::Values(CgroupNetnsMode::Helper, CgroupNetnsMode::KernCtx,
                                           CgroupNetnsMode::SockCast, CgroupNetnsMode::None),
                         [](const auto& param_info) {
                           std::string name = podpath::bpf::to_string(param_info.param);
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

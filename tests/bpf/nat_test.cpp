// BPF tier, real conntrack: tc_flow records the translation conntrack made for a connection
// (issue 16). Two namespaces the test creates, joined by a veth pair; in the client's, an
// iptables DNAT like kube-proxy's sends a "ClusterIP" to the other namespace's listener. The
// connection's first packet at the client's egress carries its conntrack entry, and pp_nat4
// must hold both tuples. A connection that is not translated records nothing.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "../common/require_root.hpp"
#include "bpf/libbpf_log.hpp"
#include "loader/loader.hpp"
#include "net/netns.hpp"
#include "util/fd.hpp"

using podpath::Fd;
using podpath::Result;
using podpath::loader::Loader;
using podpath::loader::LoaderOptions;
using podpath::loader::NodeTarget;
using podpath::model::IpAddress;

namespace {

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

constexpr const char* kClusterIp = "10.96.0.10";
constexpr std::uint16_t kServicePort = 80;
constexpr const char* kClient = "10.200.0.1";
constexpr const char* kBackend = "10.200.0.2";
constexpr std::uint16_t kTargetPort = 8080;

class NatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODPATH_REQUIRE_ROOT();
    podpath::bpf::route_libbpf_log_to_spdlog();
    client_ = "pptest-" + std::to_string(::getpid()) + "-natc";
    backend_ = "pptest-" + std::to_string(::getpid()) + "-natb";
    ASSERT_EQ(sh("ip netns add " + client_), 0);
    ASSERT_EQ(sh("ip netns add " + backend_), 0);
    ASSERT_EQ(sh(fmt::format("ip -n {} link add v0 type veth peer name p0 netns {}", client_, backend_)), 0);
    ASSERT_EQ(sh(fmt::format("ip -n {} addr add {}/24 dev v0", client_, kClient)), 0);
    ASSERT_EQ(sh(fmt::format("ip -n {} addr add {}/24 dev p0", backend_, kBackend)), 0);
    for (const auto& [ns, dev] : {std::pair{client_, "v0"}, std::pair{backend_, "p0"}}) {
      ASSERT_EQ(sh(fmt::format("ip -n {} link set {} up", ns, dev)), 0);
      ASSERT_EQ(sh(fmt::format("ip -n {} link set lo up", ns)), 0);
    }
    // The ClusterIP must be routable before OUTPUT's DNAT runs (kube-proxy's nodes have a default route).
    ASSERT_EQ(sh(fmt::format("ip -n {} route add 10.96.0.0/12 dev v0", client_)), 0);
    // kube-proxy's translation, reduced to its DNAT (OUTPUT: the client is a local socket here).
    ASSERT_EQ(
        sh(fmt::format("ip netns exec {} iptables -w -t nat -A OUTPUT -d {}/32 -p tcp --dport {} -j DNAT "
                       "--to-destination {}:{}",
                       client_, kClusterIp, kServicePort, kBackend, kTargetPort)),
        0);
  }
  void TearDown() override {
    if (!client_.empty()) sh("ip netns del " + client_);
    if (!backend_.empty()) sh("ip netns del " + backend_);
  }

  /// A listening TCP socket in the backend's namespace (the kernel completes handshakes).
  Fd listen_in_backend() {
    auto fd = podpath::net::in_netns(backend_, [&]() -> Result<Fd> {
      Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(kTargetPort);
      ::inet_pton(AF_INET, kBackend, &a.sin_addr);
      if (!s || ::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
          ::listen(s.get(), 8) != 0) {
        return podpath::make_error(errno, "listen");
      }
      return s;
    });
    EXPECT_TRUE(fd) << fd.error().to_string();
    return fd ? std::move(*fd) : Fd();
  }

  /// Connects from the client's namespace; returns the socket's local port (0 on failure).
  std::uint16_t connect_from_client(const char* dst, std::uint16_t port, Fd& keep) {
    auto r = podpath::net::in_netns(client_, [&]() -> Result<std::uint16_t> {
      Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      ::inet_pton(AF_INET, dst, &a.sin_addr);
      if (!s || ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        return podpath::make_error(errno, "connect");
      }
      sockaddr_in local{};
      socklen_t len = sizeof(local);
      ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&local), &len);
      keep = std::move(s);
      return ntohs(local.sin_port);
    });
    EXPECT_TRUE(r) << r.error().to_string();
    return r ? *r : 0;
  }

  std::string client_, backend_;
};

TEST_F(NatTest, TheFirstPacketAfterAdnatRecordsBothConntrackTuples) {
  NodeTarget t;
  t.node = "client";
  t.netns = client_;
  t.uplink = "v0";
  LoaderOptions o;
  o.slot.priority = static_cast<std::uint16_t>(31000 + ::getpid() % 1000);
  auto l = Loader::start({t}, o, {});
  ASSERT_TRUE(l) << l.error().to_string();
  if (!(*l)->features().nat)
    GTEST_SKIP() << "this kernel cannot follow NAT (needs bpf_rdonly_cast, nf_conn in BTF)";
  ASSERT_TRUE((*l)->datapath().options().nat);

  Fd listener = listen_in_backend();
  ASSERT_TRUE(listener);
  Fd through_service;
  Fd direct;
  const std::uint16_t sport = connect_from_client(kClusterIp, kServicePort, through_service);
  ASSERT_NE(sport, 0);
  const std::uint16_t direct_sport = connect_from_client(kBackend, kTargetPort, direct);
  ASSERT_NE(direct_sport, 0);

  auto nat = (*l)->datapath().read_nat();
  ASSERT_TRUE(nat) << nat.error().to_string();
  ASSERT_EQ(nat->size(), 1U) << "only the connection through the DNAT is recorded";
  const podpath::model::NatRecord& r = nat->front();
  EXPECT_TRUE(r.dnat);
  EXPECT_FALSE(r.snat);
  EXPECT_EQ(r.original.src, *IpAddress::parse(kClient));
  EXPECT_EQ(r.original.dst, *IpAddress::parse(kClusterIp));
  EXPECT_EQ(r.original.sport, sport);
  EXPECT_EQ(r.original.dport, kServicePort);
  EXPECT_EQ(r.original.proto, IPPROTO_TCP);
  EXPECT_EQ(r.reply.src, *IpAddress::parse(kBackend));
  EXPECT_EQ(r.reply.dst, *IpAddress::parse(kClient));
  EXPECT_EQ(r.reply.sport, kTargetPort);
  EXPECT_EQ(r.reply.dport, sport);
  EXPECT_EQ(r.point.direction, podpath::model::Direction::Egress);
  EXPECT_EQ(r.point.netns_cookie, (*l)->netns_cookie("client"));

  // The flow it joins: what left v0, after the translation.
  auto flows = (*l)->datapath().read_flows();
  ASSERT_TRUE(flows);
  bool seen_after = false;
  for (const auto& f : *flows) {
    if (f.key == r.translated() && f.point.direction == podpath::model::Direction::Egress) seen_after = true;
  }
  EXPECT_TRUE(seen_after);
  auto counters = (*l)->datapath().read_counters();
  ASSERT_TRUE(counters);
  EXPECT_EQ((*counters)[podpath::bpf::FlowCounter::NatRecorded], 1U);
  EXPECT_EQ((*counters)[podpath::bpf::FlowCounter::NatInsertFailed], 0U);

  // Forgotten on request, as the aggregator does once the connection's flows are gone.
  ASSERT_TRUE((*l)->datapath().delete_nat(*nat));
  auto after = (*l)->datapath().read_nat();
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->empty());
}

}  // namespace

// BPF tier, real sockets: cgroup_flow attached to a scratch cgroup, traffic from a child
// process that joined that cgroup and a network namespace of its own (loopback only, so
// nothing leaves it). Asserts what BPF_PROG_TEST_RUN cannot show: the socket's cgroup is
// found on ingress (softirq) and egress, the socket's namespace in every mode, TCP
// segment counts equal the kernel's own (TcpOutSegs of that namespace), attachments
// coexist, and detaching leaves nothing behind.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "../common/require_root.hpp"
#include "../common/temp_dir.hpp"
#include "bpf/cgroup_datapath.hpp"
#include "cgroup_test_util.hpp"
#include "loader/journal.hpp"
#include "loader/leftovers.hpp"

using podpath::bpf::CgroupAttachMode;
using podpath::bpf::CgroupDatapath;
using podpath::bpf::CgroupFlowRecord;
using podpath::bpf::CgroupNetnsMode;
using podpath::model::IpAddress;
using namespace podpath::testing;

namespace {

constexpr int kTcpMessages = 5;
constexpr int kTcpMessageBytes = 100;
constexpr int kTcpReplyBytes = 200;
constexpr int kUdpDatagrams = 3;
constexpr int kUdpPayload = 50;

/// What the child did, sent back through a pipe.
struct ChildReport {
  int ok = 0;
  char error[160] = {};
  std::uint64_t netns_cookie = 0;
  std::uint16_t tcp_client_port = 0, tcp_server_port = 0;
  std::uint16_t udp_client_port = 0, udp_server_port = 0;
  std::uint16_t udp6_client_port = 0, udp6_server_port = 0;
  int have_ipv6 = 0;
  std::uint64_t tcp_out_segs = 0;       // TcpOutSegs + TcpRetransSegs delta in the child's namespace
  std::uint64_t udp_out_datagrams = 0;  // UdpOutDatagrams delta (IPv4 only)
};

/// "Proto: Name1 Name2 ..." / "Proto: v1 v2 ..." pairs of /proc/net/snmp, as "ProtoName".
std::map<std::string, std::uint64_t> snmp() {
  std::map<std::string, std::uint64_t> out;
  std::ifstream in("/proc/net/snmp");
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    std::istringstream n(names), v(values);
    std::string proto, proto2, name, value;
    n >> proto;
    v >> proto2;
    if (!proto.empty() && proto.back() == ':') proto.pop_back();
    while (n >> name && v >> value) {
      try {
        out[proto + name] = std::stoull(value);
      } catch (...) {  // negative values (e.g. Tcp: MaxConn -1): not needed here
      }
    }
  }
  return out;
}

/// Only TIME_WAIT (06) sockets left in /proc/net/tcp of the current namespace.
bool tcp_quiet() {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, st;
    f >> sl >> local >> remote >> st;
    if (st != "06") return false;
  }
  return true;
}

std::uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

#define CHILD_CHECK(cond, what)                                                                              \
  do {                                                                                                       \
    if (!(cond)) {                                                                                           \
      std::snprintf(r.error, sizeof(r.error), "%s: %s", what, std::strerror(errno));                         \
      return r;                                                                                              \
    }                                                                                                        \
  } while (0)

bool read_all(int fd, std::size_t n) {
  char buf[512];
  std::size_t got = 0;
  while (got < n) {
    const ssize_t k = recv(fd, buf, std::min(sizeof(buf), n - got), 0);
    if (k <= 0) return false;
    got += static_cast<std::size_t>(k);
  }
  return true;
}

/// Runs in the child: joins `cgroup`, a new network namespace, and exchanges traffic.
ChildReport child_traffic(const std::filesystem::path& cgroup) {
  ChildReport r;
  {
    std::ofstream procs(cgroup / "cgroup.procs");
    procs << "0\n";
    procs.flush();
    CHILD_CHECK(procs.good(), "join cgroup");
  }
  CHILD_CHECK(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET)");
  const int ctl = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  CHILD_CHECK(ioctl(ctl, SIOCGIFFLAGS, &ifr) == 0, "SIOCGIFFLAGS lo");
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  CHILD_CHECK(ioctl(ctl, SIOCSIFFLAGS, &ifr) == 0, "SIOCSIFFLAGS lo up");
  r.netns_cookie = socket_netns_cookie(ctl);
  close(ctl);
  auto before = snmp();

  // TCP: 5 x 100 bytes one way, 200 back, orderly close from both ends.
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int lst = socket(AF_INET, SOCK_STREAM, 0);
  CHILD_CHECK(bind(lst, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 && listen(lst, 1) == 0, "listen");
  sa.sin_port = htons(local_port(lst));
  const int cli = socket(AF_INET, SOCK_STREAM, 0);
  CHILD_CHECK(connect(cli, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0, "connect");
  const int srv = accept(lst, nullptr, nullptr);
  CHILD_CHECK(srv >= 0, "accept");
  close(lst);
  r.tcp_client_port = local_port(cli);
  r.tcp_server_port = local_port(srv);
  char msg[kTcpMessageBytes];
  std::memset(msg, 'x', sizeof(msg));
  for (int i = 0; i < kTcpMessages; ++i) {
    CHILD_CHECK(send(cli, msg, sizeof(msg), 0) == kTcpMessageBytes, "send");
    CHILD_CHECK(read_all(srv, kTcpMessageBytes), "server recv");
  }
  char reply[kTcpReplyBytes];
  std::memset(reply, 'y', sizeof(reply));
  CHILD_CHECK(send(srv, reply, sizeof(reply), 0) == kTcpReplyBytes, "reply");
  CHILD_CHECK(read_all(cli, kTcpReplyBytes), "client recv");
  close(cli);
  char eof = 0;
  CHILD_CHECK(recv(srv, &eof, 1, 0) == 0, "server EOF");
  close(srv);
  for (int i = 0; i < 200 && !tcp_quiet(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHILD_CHECK(tcp_quiet(), "TCP close did not finish");

  // UDP over IPv4: 3 datagrams, no reply.
  const int us = socket(AF_INET, SOCK_DGRAM, 0);
  sa.sin_port = 0;
  CHILD_CHECK(bind(us, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0, "udp bind");
  sa.sin_port = htons(local_port(us));
  const int uc = socket(AF_INET, SOCK_DGRAM, 0);
  CHILD_CHECK(connect(uc, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0, "udp connect");
  char d[kUdpPayload] = {};
  for (int i = 0; i < kUdpDatagrams; ++i) {
    CHILD_CHECK(send(uc, d, sizeof(d), 0) == kUdpPayload, "udp send");
    CHILD_CHECK(recv(us, d, sizeof(d), 0) == kUdpPayload, "udp recv");
  }
  r.udp_client_port = local_port(uc);
  r.udp_server_port = local_port(us);
  close(uc);
  close(us);

  // UDP over IPv6 (::1), where IPv6 is enabled.
  const int us6 = socket(AF_INET6, SOCK_DGRAM, 0);
  sockaddr_in6 s6{};
  s6.sin6_family = AF_INET6;
  s6.sin6_addr = in6addr_loopback;
  if (us6 >= 0 && bind(us6, reinterpret_cast<sockaddr*>(&s6), sizeof(s6)) == 0) {
    s6.sin6_port = htons(local_port(us6));
    const int uc6 = socket(AF_INET6, SOCK_DGRAM, 0);
    CHILD_CHECK(connect(uc6, reinterpret_cast<sockaddr*>(&s6), sizeof(s6)) == 0, "udp6 connect");
    CHILD_CHECK(send(uc6, d, sizeof(d), 0) == kUdpPayload, "udp6 send");
    CHILD_CHECK(recv(us6, d, sizeof(d), 0) == kUdpPayload, "udp6 recv");
    r.udp6_client_port = local_port(uc6);
    r.udp6_server_port = local_port(us6);
    r.have_ipv6 = 1;
    close(uc6);
  }
  if (us6 >= 0) close(us6);

  auto after = snmp();
  r.tcp_out_segs =
      after["TcpOutSegs"] - before["TcpOutSegs"] + after["TcpRetransSegs"] - before["TcpRetransSegs"];
  r.udp_out_datagrams = after["UdpOutDatagrams"] - before["UdpOutDatagrams"];
  r.ok = 1;
  return r;
}

class CgroupAttachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODPATH_REQUIRE_ROOT();
    features_ = podpath::bpf::probe_cgroup_features();
    if (features_.cgroup2_mount.empty() || !features_.cgroup_skb) {
      if (no_skip()) FAIL() << "cgroup v2 or cgroup_skb missing";
      GTEST_SKIP() << "cgroup v2 or cgroup_skb programs missing";
    }
    cgroup_ =
        std::filesystem::path(features_.cgroup2_mount) / ("podpath-bpftest." + std::to_string(getpid()));
    std::filesystem::create_directory(cgroup_);
    cgroup_id_ = inode_of(cgroup_);
    ASSERT_NE(cgroup_id_, 0u);
  }

  void TearDown() override {
    attachments_.clear();
    datapaths_.clear();
    if (!cgroup_.empty()) {
      std::error_code ec;
      std::filesystem::remove(cgroup_, ec);
      EXPECT_FALSE(ec) << "cannot remove " << cgroup_ << ": " << ec.message();
    }
  }

  CgroupDatapath& load(CgroupNetnsMode mode) {
    podpath::bpf::CgroupDatapathOptions o;
    o.netns_mode = mode;
    o.coarse_clock = features_.coarse_clock;
    auto dp = CgroupDatapath::load(o);
    EXPECT_TRUE(dp) << dp.error().to_string();
    datapaths_.push_back(std::move(*dp));
    return *datapaths_.back();
  }

  void attach(CgroupDatapath& dp, CgroupAttachMode mode) {
    auto a = dp.attach(cgroup_, mode);
    ASSERT_TRUE(a) << a.error().to_string();
    EXPECT_EQ((*a)->mode(), mode);
    attachments_.push_back(std::move(*a));
  }

  // Forks the traffic child and waits for it.
  ChildReport traffic() {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      const ChildReport r = child_traffic(cgroup_);
      (void)!write(fds[1], &r, sizeof(r));
      _exit(0);
    }
    close(fds[1]);
    ChildReport r;
    const ssize_t n = read(fds[0], &r, sizeof(r));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_EQ(n, static_cast<ssize_t>(sizeof(r)));
    EXPECT_TRUE(r.ok) << r.error;
    return r;
  }

  std::vector<CgroupFlowRecord> flows(const CgroupDatapath& dp) {
    auto f = dp.read_flows();
    EXPECT_TRUE(f) << f.error().to_string();
    return f ? *f : std::vector<CgroupFlowRecord>{};
  }

  /// Names of the programs attached to the scratch cgroup, both hooks.
  std::vector<std::string> attached_names() {
    std::vector<std::string> out;
    const int fd = ::open(cgroup_.c_str(), O_RDONLY | O_DIRECTORY);
    for (auto type : {BPF_CGROUP_INET_INGRESS, BPF_CGROUP_INET_EGRESS}) {
      __u32 ids[16], cnt = 16, flags = 0;
      if (bpf_prog_query(fd, type, 0, &flags, ids, &cnt) != 0) continue;
      for (__u32 i = 0; i < cnt; ++i) {
        const int pfd = bpf_prog_get_fd_by_id(ids[i]);
        bpf_prog_info info{};
        __u32 len = sizeof(info);
        if (pfd >= 0 && bpf_obj_get_info_by_fd(pfd, &info, &len) == 0) out.emplace_back(info.name);
        if (pfd >= 0) close(pfd);
      }
    }
    close(fd);
    return out;
  }

  // Every assertion about one run of the child, for one datapath in namespace mode `mode`.
  void check(const CgroupDatapath& dp, CgroupNetnsMode mode, const ChildReport& r) {
    const auto all = flows(dp);
    ASSERT_FALSE(all.empty());
    const IpAddress lo4 = *IpAddress::parse("127.0.0.1");
    const IpAddress lo6 = *IpAddress::parse("::1");
    const bool full = mode == CgroupNetnsMode::Helper || mode == CgroupNetnsMode::KernCtx;
    EXPECT_NE(r.netns_cookie, current_netns_cookie());
    std::uint64_t tcp_tx = 0;
    const CgroupFlowRecord* tcp_client = nullptr;
    const CgroupFlowRecord* tcp_server = nullptr;
    const CgroupFlowRecord* udp_client = nullptr;
    const CgroupFlowRecord* udp_server = nullptr;
    const CgroupFlowRecord* udp6_client = nullptr;
    for (const auto& f : all) {
      EXPECT_EQ(f.cgroup_id, cgroup_id_) << "only the scratch cgroup's sockets are under the attach point";
      if (f.proto == IPPROTO_TCP) {
        tcp_tx += f.tx_packets;
        EXPECT_EQ(f.netns_cookie, mode == CgroupNetnsMode::None ? 0 : r.netns_cookie);
        if (f.local_port == r.tcp_client_port) tcp_client = &f;
        if (f.local_port == r.tcp_server_port) tcp_server = &f;
      } else if (f.proto == IPPROTO_UDP && f.local == lo4) {
        EXPECT_EQ(f.netns_cookie, full ? r.netns_cookie : 0) << "UDP over IPv4";
        if (f.local_port == r.udp_client_port) udp_client = &f;
        if (f.local_port == r.udp_server_port) udp_server = &f;
      } else if (f.proto == IPPROTO_UDP && f.local == lo6) {
        EXPECT_EQ(f.netns_cookie, mode == CgroupNetnsMode::None ? 0 : r.netns_cookie) << "UDP over IPv6";
        if (f.local_port == r.udp6_client_port) udp6_client = &f;
      }
    }
    // TCP: the kernel's own count of segments sent in that namespace.
    EXPECT_EQ(tcp_tx, r.tcp_out_segs);
    ASSERT_NE(tcp_client, nullptr);
    ASSERT_NE(tcp_server, nullptr);
    EXPECT_EQ(tcp_client->local, lo4);
    EXPECT_EQ(tcp_client->remote_port, r.tcp_server_port);
    EXPECT_EQ(tcp_server->remote_port, r.tcp_client_port);
    EXPECT_GE(tcp_client->tx_bytes, kTcpMessages * (kTcpMessageBytes + 40u));
    EXPECT_GE(tcp_client->rx_bytes, kTcpReplyBytes + 40u);
    EXPECT_GT(tcp_server->rx_packets, 0u);  // ingress found the socket's cgroup in softirq
    // UDP: exact.
    EXPECT_EQ(r.udp_out_datagrams, static_cast<std::uint64_t>(kUdpDatagrams));  // IPv6 counts in snmp6
    ASSERT_NE(udp_client, nullptr);
    ASSERT_NE(udp_server, nullptr);
    EXPECT_EQ(udp_client->tx_packets, static_cast<std::uint64_t>(kUdpDatagrams));
    EXPECT_EQ(udp_client->tx_bytes, kUdpDatagrams * (20u + 8u + kUdpPayload));
    EXPECT_EQ(udp_client->rx_packets, 0u);
    EXPECT_EQ(udp_server->rx_packets, static_cast<std::uint64_t>(kUdpDatagrams));
    EXPECT_EQ(udp_server->rx_bytes, kUdpDatagrams * (20u + 8u + kUdpPayload));
    EXPECT_EQ(udp_server->remote_port, r.udp_client_port);
    if (r.have_ipv6) {
      ASSERT_NE(udp6_client, nullptr);
      EXPECT_EQ(udp6_client->tx_packets, 1u);
      EXPECT_EQ(udp6_client->tx_bytes, 40u + 8u + kUdpPayload);
    }
  }

  podpath::bpf::CgroupFeatures features_;
  std::filesystem::path cgroup_;
  std::uint64_t cgroup_id_ = 0;
  std::vector<std::unique_ptr<CgroupDatapath>> datapaths_;
  std::vector<std::unique_ptr<podpath::bpf::CgroupAttachment>> attachments_;
};

}  // namespace

TEST_F(CgroupAttachTest, EveryNamespaceModeSeesTheSocketsCgroupAndNamespace) {
  std::vector<CgroupNetnsMode> modes{CgroupNetnsMode::None};
  if (features_.netns_helper) modes.push_back(CgroupNetnsMode::Helper);
  if (features_.kern_ctx) modes.push_back(CgroupNetnsMode::KernCtx);
  if (features_.sock_cast) modes.push_back(CgroupNetnsMode::SockCast);
  for (auto mode : modes) load(mode);
  // All four attached at once: multi-attach, each counts everything.
  for (auto& dp : datapaths_) attach(*dp, CgroupAttachMode::Link);
  const ChildReport r = traffic();
  ASSERT_TRUE(r.ok);
  for (std::size_t i = 0; i < modes.size(); ++i) {
    SCOPED_TRACE(podpath::bpf::to_string(modes[i]));
    check(*datapaths_[i], modes[i], r);
  }
}

TEST_F(CgroupAttachTest, LegacyAttachmentCountsAndDetachesCleanly) {
  auto& dp = load(features_.best_netns_mode());
  attach(dp, CgroupAttachMode::Legacy);
  EXPECT_EQ(attached_names().size(), 2u);
  const ChildReport r = traffic();
  ASSERT_TRUE(r.ok);
  check(dp, features_.best_netns_mode(), r);
  ASSERT_TRUE(attachments_.front()->detach());
  EXPECT_TRUE(attached_names().empty());
}

TEST_F(CgroupAttachTest, LinkAttachmentDetachesOnDestruction) {
  auto& dp = load(features_.best_netns_mode());
  attach(dp, CgroupAttachMode::Link);
  EXPECT_EQ(attached_names().size(), 2u);
  attachments_.clear();
  EXPECT_TRUE(attached_names().empty());
}

TEST_F(CgroupAttachTest, LegacyAttachLeavesAnotherLiveRunsProgramsAlone) {
  // Issue 15 item 2: a second podpath in Legacy mode used to detach the first one's programs
  // (same names) as if a killed run had left them.
  auto& first = load(features_.best_netns_mode());
  attach(first, CgroupAttachMode::Legacy);
  auto& second = load(features_.best_netns_mode());
  attach(second, CgroupAttachMode::Legacy);
  EXPECT_EQ(attached_names().size(), 4u) << "both runs' programs stay attached";
  const ChildReport r = traffic();
  ASSERT_TRUE(r.ok);
  check(first, features_.best_netns_mode(), r);
  check(second, features_.best_netns_mode(), r);
  ASSERT_TRUE(attachments_.back()->detach());
  EXPECT_EQ(attached_names().size(), 2u) << "stopping the second leaves the first one's";
}

TEST_F(CgroupAttachTest, AKilledLegacyRunsProgramsAreRemovedByItsJournal) {
  // A killed run in Legacy mode leaves its programs attached and its journal behind (a
  // journal whose lock is free); simulate both. A live run's programs stay.
  podpath::testing::TempDir state;
  auto& stale = load(CgroupNetnsMode::None);
  const int cg = ::open(cgroup_.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_EQ(bpf_prog_attach(stale.ingress_fd(), cg, BPF_CGROUP_INET_INGRESS, BPF_F_ALLOW_MULTI), 0);
  ASSERT_EQ(bpf_prog_attach(stale.egress_fd(), cg, BPF_CGROUP_INET_EGRESS, BPF_F_ALLOW_MULTI), 0);
  close(cg);
  {
    podpath::loader::Journal killed(state.path());
    killed.add(
        podpath::loader::CgroupRecord{cgroup_.string(), stale.ingress_prog_id(), stale.egress_prog_id()});
  }
  auto& live = load(features_.best_netns_mode());
  attach(live, CgroupAttachMode::Legacy);
  ASSERT_EQ(attached_names().size(), 4u);

  podpath::loader::CleanupOptions dry;
  dry.dir = state.path();
  dry.dry_run = true;
  const auto would = podpath::loader::clean_leftovers(dry);
  ASSERT_EQ(would.removed.size(), 1u);
  EXPECT_NE(would.removed[0].find("would remove podpath's 2 cgroup program(s)"), std::string::npos)
      << would.removed[0];
  EXPECT_EQ(attached_names().size(), 4u) << "a dry run removes nothing";

  podpath::loader::CleanupOptions real;
  real.dir = state.path();
  const auto report = podpath::loader::clean_leftovers(real);
  EXPECT_EQ(report.removed.size(), 1u);
  EXPECT_TRUE(report.failed.empty());
  EXPECT_EQ(report.finished_runs, 1);
  EXPECT_EQ(attached_names().size(), 2u) << "only the killed run's pair went";
  const ChildReport r = traffic();
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(flows(stale).empty());
  EXPECT_FALSE(flows(live).empty());
  EXPECT_EQ(podpath::loader::clean_leftovers(real).dead_runs, 0) << "its journal is gone";
}

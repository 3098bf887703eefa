// BPF tier: ContainerTracker, the API behind `podpath trace`'s container column, end to end:
// a cluster whose cgroup_root is a scratch cgroup, one "container" cgroup in it, traffic from
// a child process in that cgroup (in a network namespace of its own), then refresh() and a
// lookup by flow key. Also: idle entries expire.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "../common/loopback.hpp"
#include "../common/require_root.hpp"
#include "cgroup_test_util.hpp"
#include "loader/container_tracker.hpp"

using podpath::loader::ContainerTracker;
using podpath::model::IpAddress;
using namespace podpath::testing;

namespace {

struct Sent {
  std::uint16_t sport = 0, dport = 0;
  std::uint64_t netns_cookie = 0;
  int ok = 0;
};

// In a child: join `cgroup`, a new network namespace, send one UDP datagram over loopback.
Sent send_one(const std::filesystem::path& cgroup) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Sent s;
    std::ofstream(cgroup / "cgroup.procs") << "0\n";
    podpath::testing::UdpLoopback lo;
    if (unshare(CLONE_NEWNET) == 0 && podpath::testing::open_udp_loopback(lo)) {
      char b[8] = {};
      if (send(lo.tx, b, sizeof(b), 0) == 8 && recv(lo.rx, b, sizeof(b), 0) == 8) s.ok = 1;
      sockaddr_in me{};
      socklen_t len = sizeof(me);
      getsockname(lo.tx, reinterpret_cast<sockaddr*>(&me), &len);
      s.sport = ntohs(me.sin_port);
      s.dport = ntohs(lo.dst.sin_port);
      s.netns_cookie = socket_netns_cookie(lo.tx);
    }
    (void)!write(fds[1], &s, sizeof(s));
    _exit(0);
  }
  close(fds[1]);
  Sent s;
  (void)!read(fds[0], &s, sizeof(s));
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  return s;
}

class CgroupTrackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODPATH_REQUIRE_ROOT();
    const auto mount = podpath::find_mount("cgroup2");
    if (!mount) {
      if (no_skip()) FAIL() << "no cgroup v2";
      GTEST_SKIP() << "no cgroup v2";
    }
    root_ = *mount / ("podpath-trackertest." + std::to_string(getpid()));
    container_ =
        root_ / "kubepods" / "besteffort" / "pod2f0c7d0e-6c1b-4f3e-9a55-0b7d2c1e9f10" / std::string(64, 'b');
    std::filesystem::create_directories(container_);
    cluster_.lab = "tt";
    cluster_.cgroup_root = root_.string();
    podpath::model::Pod pod;
    pod.ns = "default";
    pod.name = "web";
    pod.ip = *IpAddress::parse("127.0.0.1");
    pod.containers.push_back(
        {"app", std::string(64, 'b'), container_.string(), inode_of(container_), 0, "", std::nullopt, false});
    cluster_.pods.push_back(pod);
  }

  void TearDown() override {
    tracker_.reset();
    if (root_.empty()) return;
    // Deepest first: cgroup directories are removed with rmdir only.
    for (auto p = container_; p != root_.parent_path(); p = p.parent_path()) {
      std::error_code ec;
      std::filesystem::remove(p, ec);
      EXPECT_FALSE(ec) << p << ": " << ec.message();
    }
  }

  std::filesystem::path root_, container_;
  podpath::model::Cluster cluster_;
  std::unique_ptr<ContainerTracker> tracker_;
};

}  // namespace

TEST_F(CgroupTrackerTest, FlowKeysFindTheContainerThatSentThem) {
  auto t = ContainerTracker::start(std::make_shared<const podpath::model::Cluster>(cluster_));
  ASSERT_TRUE(t) << t.error().to_string();
  tracker_ = std::move(*t);
  EXPECT_EQ(tracker_->attach_cgroup(), root_);
  const Sent s = send_one(container_);
  ASSERT_TRUE(s.ok);
  ASSERT_TRUE(tracker_->refresh());
  const IpAddress lo = *IpAddress::parse("127.0.0.1");
  const podpath::model::FlowKey key{lo, lo, s.sport, s.dport, IPPROTO_UDP, false};
  EXPECT_EQ(tracker_->attribution().column(key), "app");
  const auto refs = tracker_->attribution().for_flow(key);
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].pod, "default/web");
  EXPECT_EQ(refs[0].display(), "default/web/app");
  // Narrowed to the sender's namespace it is found; in another one it is not.
  const bool netns_known = tracker_->netns_mode() == podpath::bpf::CgroupNetnsMode::Helper ||
                           tracker_->netns_mode() == podpath::bpf::CgroupNetnsMode::KernCtx;
  EXPECT_EQ(tracker_->attribution().column(key, s.netns_cookie), "app");
  if (netns_known) {
    EXPECT_EQ(tracker_->attribution().column(key, current_netns_cookie()), "");
  }
  // The receiving end (the datagram delivered to the server socket) is the same container.
  EXPECT_EQ(tracker_->attribution().lookup(0, lo, IPPROTO_UDP, s.dport).size(), 1u);
}

TEST_F(CgroupTrackerTest, IdleEntriesExpire) {
  ContainerTracker::Options o;
  o.idle_expiry = std::chrono::seconds(0);
  auto t = ContainerTracker::start(std::make_shared<const podpath::model::Cluster>(cluster_), o);
  ASSERT_TRUE(t) << t.error().to_string();
  tracker_ = std::move(*t);
  ASSERT_TRUE(send_one(container_).ok);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // older than the coarse clock's tick
  ASSERT_TRUE(tracker_->refresh());
  EXPECT_TRUE(tracker_->attribution().records().empty());
  auto left = tracker_->datapath().read_flows();
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty()) << "expired entries are deleted from the map";
}

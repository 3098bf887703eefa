// Root tier: network namespaces created by the test (unique pptest-* names, deleted in
// TearDown), entered from worker threads, told apart by cookie.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "../common/require_root.hpp"
#include "net/netns.hpp"

namespace {

int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODPATH_REQUIRE_ROOT();
    const std::string base = "pptest-" + std::to_string(::getpid()) + "-ns";
    a_ = base + "a";
    b_ = base + "b";
    ASSERT_EQ(sh("ip netns add " + a_), 0);
    ASSERT_EQ(sh("ip netns add " + b_), 0);
  }
  void TearDown() override {
    if (!a_.empty()) sh("ip netns del " + a_);
    if (!b_.empty()) sh("ip netns del " + b_);
  }
  std::string a_, b_;
};

}  // namespace

TEST_F(NetnsTest, CookiesDifferBetweenNamespacesAndAreStable) {
  const auto host = podpath::net::netns_cookie("");
  const auto a = podpath::net::netns_cookie(a_);
  const auto b = podpath::net::netns_cookie(b_);
  ASSERT_TRUE(host) << host.error().to_string();
  ASSERT_TRUE(a) << a.error().to_string();
  ASSERT_TRUE(b) << b.error().to_string();
  EXPECT_NE(*a, *b);
  EXPECT_NE(*a, *host);
  EXPECT_NE(*b, *host);
  const auto again = podpath::net::netns_cookie("/run/netns/" + a_);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *a);
}

TEST_F(NetnsTest, WorkRunsInsideTheNamespaceAndTheCallerStaysOutside) {
  const auto host = podpath::net::netns_cookie("");
  ASSERT_TRUE(host);
  const auto inside = podpath::net::in_netns(a_, [&]() -> podpath::Result<std::uint64_t> {
    return podpath::net::netns_cookie("");  // "" = this thread's namespace, i.e. a_
  });
  ASSERT_TRUE(inside) << inside.error().to_string();
  EXPECT_EQ(*inside, *podpath::net::netns_cookie(a_));
  const auto after = podpath::net::netns_cookie("");
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, *host);  // the calling thread never moved
}

TEST_F(NetnsTest, SocketsKeepTheirNamespaceOnAnyThread) {
  auto sock = podpath::net::socket_in_netns(b_, AF_INET, SOCK_DGRAM, 0);
  ASSERT_TRUE(sock) << sock.error().to_string();
  std::uint64_t seen = 0;
  std::thread other([&] { seen = *podpath::net::socket_netns_cookie(sock->get()); });
  other.join();
  EXPECT_EQ(seen, *podpath::net::netns_cookie(b_));
}

TEST_F(NetnsTest, ManyThreadsCanEnterNamespacesConcurrently) {
  std::vector<std::thread> threads;
  std::vector<std::uint64_t> cookies(8);
  for (std::size_t i = 0; i < cookies.size(); ++i) {
    threads.emplace_back([&, i] {
      const auto c = podpath::net::netns_cookie(i % 2 == 0 ? a_ : b_);
      cookies[i] = c ? *c : 0;
    });
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < cookies.size(); ++i) EXPECT_EQ(cookies[i], cookies[i % 2]) << i;
  EXPECT_NE(cookies[0], cookies[1]);
}

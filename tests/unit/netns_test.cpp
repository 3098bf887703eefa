// Network namespace helpers that need no privileges (the root tier creates namespaces:
// tests/bpf/net_netns_test.cpp).
#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include "net/netns.hpp"

using podpath::net::in_netns;
using podpath::net::netns_path;

TEST(Netns, PathsForNamesAndPaths) {
  EXPECT_EQ(netns_path(""), "");
  EXPECT_EQ(netns_path("pp-node1"), "/run/netns/pp-node1");
  EXPECT_EQ(netns_path("/proc/42/ns/net"), "/proc/42/ns/net");
  EXPECT_EQ(podpath::net::netns_display(""), "the host network namespace");
  EXPECT_EQ(podpath::net::netns_display("pp-node1"), "network namespace pp-node1");
}

TEST(Netns, EmptyNameRunsOnTheCallingThread) {
  const auto caller = std::this_thread::get_id();
  const auto r =
      in_netns("", [&]() -> podpath::Result<bool> { return std::this_thread::get_id() == caller; });
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
}

TEST(Netns, UnknownNamespaceIsAnErrorAndTheWorkDoesNotRun) {
  bool ran = false;
  const auto r = in_netns("podpath-no-such-netns", [&]() -> podpath::Result<int> {
    ran = true;
    return 1;
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_NE(r.error().message.find("/run/netns/podpath-no-such-netns"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(ran);
}

TEST(Netns, ExceptionsReachTheCaller) {
  EXPECT_THROW((void)podpath::net::run_in_netns_thread("", [] { throw std::runtime_error("boom"); }),
               std::runtime_error);
}

TEST(Netns, CookieOfTheOwnNamespaceIsStable) {
  const auto a = podpath::net::netns_cookie("");
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_NE(*a, 0u);
  const auto b = podpath::net::netns_cookie("/proc/self/ns/net");  // same namespace, via a thread
  ASSERT_TRUE(b) << b.error().to_string();
  EXPECT_EQ(*a, *b);
}

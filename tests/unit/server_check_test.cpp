// POST /v1/check's pure parts: the body's strict validation (every refusal names its field)
// and the token bucket that rate-limits checks.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "server/check_endpoint.hpp"

using podpath::check::Protocol;
using podpath::server::parse_check_body;
using podpath::server::TokenBucket;

namespace {

TEST(ServerCheckBody, TakesSourceDestinationProtocolAndPort) {
  auto b = parse_check_body(
      R"({"source":"default/web-1","destination":"10.10.130.2","protocol":"tcp","port":80})");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->source, "default/web-1");
  EXPECT_EQ(b->destination.to_string(), "10.10.130.2");
  EXPECT_EQ(b->protocol, Protocol::Tcp);
  EXPECT_EQ(b->port, 80);
  auto icmp = parse_check_body(R"({"source":"web-1","destination":"fd00::2","protocol":"icmp"})");
  ASSERT_TRUE(icmp) << icmp.error().message;
  EXPECT_EQ(icmp->protocol, Protocol::Icmp);
  EXPECT_EQ(icmp->port, 0);
  EXPECT_TRUE(parse_check_body(R"({"source":"w","destination":"10.0.0.1","protocol":"icmp","port":0})"));
}

TEST(ServerCheckBody, EveryRefusalNamesItsField) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "body: not JSON"},
      {"[1]", "body: expected a JSON object"},
      {R"({"source":"w","destination":"10.0.0.1","protocol":"icmp","count":9})", "count: unknown field"},
      {R"({"destination":"10.0.0.1","protocol":"icmp"})", "source: missing"},
      {R"({"source":"","destination":"10.0.0.1","protocol":"icmp"})", "source: expected a pod name"},
      {R"({"source":7,"destination":"10.0.0.1","protocol":"icmp"})", "source: expected a pod name"},
      {R"({"source":"w","protocol":"icmp"})", "destination: missing"},
      {R"({"source":"w","destination":"db-0","protocol":"icmp"})",
       "destination: 'db-0' is not an IP address"},
      {R"({"source":"w","destination":["10.0.0.1"],"protocol":"icmp"})",
       "destination: expected an IP address"},
      {R"({"source":"w","destination":"10.0.0.1"})", "protocol: missing"},
      {R"({"source":"w","destination":"10.0.0.1","protocol":"sctp"})", "protocol: 'sctp' is not one of"},
      {R"({"source":"w","destination":"10.0.0.1","protocol":"icmp","port":80})", "port: icmp takes no port"},
      {R"({"source":"w","destination":"10.0.0.1","protocol":"udp"})", "port: missing (udp needs a port)"},
      {R"({"source":"w","destination":"10.0.0.1","protocol":"tcp","port":0})", "port: expected an integer"},
      {R"({"source":"w","destination":"10.0.0.1","protocol":"tcp","port":65536})",
       "port: expected an integer"},
      {R"({"source":"w","destination":"10.0.0.1","protocol":"tcp","port":"80"})",
       "port: expected an integer"},
      {R"({"source":"w","destination":"10.0.0.1","protocol":"tcp","port":8.5})", "port: expected an integer"},
  };
  for (const auto& [body, message] : cases) {
    auto b = parse_check_body(body);
    ASSERT_FALSE(b) << body;
    EXPECT_EQ(b.error().message.rfind(message, 0), 0U) << body << " -> " << b.error().message;
  }
}

TEST(ServerCheckLimiter, AllowsABurstThenOnePerRefill) {
  using namespace std::chrono_literals;
  const auto t0 = TokenBucket::Clock::time_point{} + 1h;
  TokenBucket bucket(3, 10s, t0);
  std::chrono::seconds retry{0};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bucket.take(t0, retry)) << i;
  EXPECT_FALSE(bucket.take(t0, retry));
  EXPECT_EQ(retry, 10s);
  EXPECT_FALSE(bucket.take(t0 + 7500ms, retry));
  EXPECT_EQ(retry, 3s);  // 2.5 s rounded up
  EXPECT_TRUE(bucket.take(t0 + 10s, retry));
  EXPECT_FALSE(bucket.take(t0 + 10s, retry));
  // A long pause refills the burst, never more.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bucket.take(t0 + 1h, retry)) << i;
  EXPECT_FALSE(bucket.take(t0 + 1h, retry));
}

}  // namespace

#include <gtest/gtest.h>

#include "model/address.hpp"

using podpath::model::Cidr;
using podpath::model::IpAddress;

TEST(IpAddress, ParsesIpv4AsV4Mapped) {
  const auto a = IpAddress::parse("10.10.129.2");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->bytes[10], 0xff);
  EXPECT_EQ(a->bytes[12], 10);
  EXPECT_EQ(a->bytes[15], 2);
  EXPECT_EQ(a->v4_host(), 0x0a0a8102u);
  EXPECT_EQ(a->to_string(), "10.10.129.2");
}

TEST(IpAddress, Ipv4TextRoundTripsEveryOctetWidth) {
  for (const char* text : {"0.0.0.0", "255.255.255.255", "1.20.100.255", "9.99.199.0", "127.0.0.1"}) {
    const auto a = IpAddress::parse(text);
    ASSERT_TRUE(a) << text;
    EXPECT_EQ(a->to_string(), text);
  }
}

TEST(IpAddress, ParsesIpv6) {
  const auto a = IpAddress::parse("fd00::1");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->is_v4());
  EXPECT_EQ(a->to_string(), "fd00::1");
}

TEST(IpAddress, RejectsGarbage) {
  for (const char* bad : {"", "10.0.0", "10.0.0.256", "hello", "1.2.3.4/24", "::g"}) {
    EXPECT_FALSE(IpAddress::parse(bad)) << bad;
  }
}

TEST(Cidr, ParsesAndClearsHostBits) {
  const auto c = Cidr::parse("10.10.129.77/24");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->to_string(), "10.10.129.0/24");
  EXPECT_EQ(c->prefix_len128(), 120u);
  EXPECT_EQ(c->netmask().to_string(), "255.255.255.0");
}

TEST(Cidr, ContainsRespectsPrefixAndFamily) {
  const auto c = *Cidr::parse("10.10.128.0/17");
  EXPECT_TRUE(c.contains(*IpAddress::parse("10.10.130.2")));
  EXPECT_TRUE(c.contains(*IpAddress::parse("10.10.255.255")));
  EXPECT_FALSE(c.contains(*IpAddress::parse("10.10.127.255")));
  EXPECT_FALSE(c.contains(*IpAddress::parse("::ffff:0:0")));  // not inside, even v4-mapped zero
  const auto v6 = *Cidr::parse("fd00::/8");
  EXPECT_TRUE(v6.contains(*IpAddress::parse("fd12::1")));
  EXPECT_FALSE(v6.contains(*IpAddress::parse("10.0.0.1")));
}

TEST(Cidr, BareAddressIsHostPrefixAndOddLengthsWork) {
  EXPECT_EQ(Cidr::parse("10.0.0.1")->to_string(), "10.0.0.1/32");
  EXPECT_EQ(Cidr::parse("10.0.0.255/25")->to_string(), "10.0.0.128/25");
  EXPECT_EQ(Cidr::parse("0.0.0.0/0")->netmask().to_string(), "0.0.0.0");
  EXPECT_EQ(Cidr::parse("10.0.0.1/32")->netmask().to_string(), "255.255.255.255");
}

TEST(Cidr, RejectsBadPrefixes) {
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "fd00::/129", "10.0.0.0/-1"}) {
    EXPECT_FALSE(Cidr::parse(bad)) << bad;
  }
}

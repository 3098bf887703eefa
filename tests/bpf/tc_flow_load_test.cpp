// BPF tier: the real skeleton, loaded into the kernel, run on crafted frames.
#include <gtest/gtest.h>

#include <vector>

#include "../common/require_root.hpp"
#include "bpf/tc_flow_object.hpp"
#include "bpf/test_run.hpp"

namespace {
constexpr int kTcActUnspec = -1;
}

TEST(TcFlowLoad, LoadsFromSkeletonAndPassesPackets) {
  PODPATH_REQUIRE_ROOT();
  auto obj = podpath::bpf::TcFlowObject::load();
  ASSERT_TRUE(obj) << obj.error().to_string();

  // Enable: a minimal Ethernet + IPv4 frame (contents irrelevant for the counter).
  std::vector<std::uint8_t> frame(64, 0);
  frame[12] = 0x08;  // EtherType IPv4
  // Trigger: run each direction program 3 times.
  for (int prog : {obj->ingress_prog_fd(), obj->egress_prog_fd()}) {
    const auto r = podpath::bpf::test_run(prog, frame, 3);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(r->retval, kTcActUnspec);
    EXPECT_EQ(r->data_out, frame);
  }
  // Assert: both programs counted every run.
  const auto counters = obj->read_counters();
  ASSERT_TRUE(counters) << counters.error().to_string();
  EXPECT_EQ((*counters)[PP_CNT_PACKETS], 6u);
}

TEST(TcFlowLoad, KernelRejectsFramesShorterThanEthernet) {
  PODPATH_REQUIRE_ROOT();
  auto obj = podpath::bpf::TcFlowObject::load();
  ASSERT_TRUE(obj) << obj.error().to_string();
  std::vector<std::uint8_t> frame(10, 0);
  const auto r = podpath::bpf::test_run(obj->ingress_prog_fd(), frame);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EINVAL);
}

#pragma once
/// @file
/// @brief Runs a loaded TC program on a crafted frame (BPF_PROG_TEST_RUN), for the BPF
/// test tier, the fuzzer and the benchmarks.

#include <cstdint>
#include <span>
#include <vector>

#include "util/result.hpp"

namespace podpath::bpf {

struct TestRunResult {
  int retval = 0;                      ///< the program's return code (TC_ACT_*)
  std::uint32_t duration_ns = 0;       ///< kernel-measured mean time per run
  std::vector<std::uint8_t> data_out;  ///< the frame after the run
};

/// @brief skb fields a run may set (BPF_PROG_TEST_RUN's ctx_in); zero = the kernel's default.
struct SkbFields {
  std::uint32_t gso_segs = 0;  ///< > 1: a GSO/GRO super-packet of that many segments
  std::uint32_t gso_size = 0;  ///< payload bytes per segment
};

/// @brief Runs `prog_fd` `repeat` times on `frame`. The kernel rejects frames shorter
/// than an Ethernet header (EINVAL); that is returned as an Error.
Result<TestRunResult> test_run(int prog_fd, std::span<const std::uint8_t> frame, std::uint32_t repeat = 1,
                               const SkbFields& skb = {});

}  // namespace podpath::bpf

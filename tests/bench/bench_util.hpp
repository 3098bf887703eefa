#pragma once
// Shared by the benchmarks: the frames they send, the kernel's own per-run timing, medians
// and a map's memory as the kernel accounts it.
#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "../common/frames.hpp"
#include "bpf/test_run.hpp"

namespace podpath::bench {

using testing::FrameBuilder;

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

/// A pod-to-pod IPv4 TCP segment (node1 pod -> node2 pod) with 64 bytes of payload.
inline FrameBuilder::Bytes tcp4(std::uint16_t sport, std::uint16_t dport = 5432) {
  return FrameBuilder()
      .eth(testing::kEthIpv4)
      .ipv4("10.10.129.2", "10.10.130.2", IPPROTO_TCP, 20 + 64)
      .tcp(sport, dport, testing::kTcpAck)
      .payload(64)
      .build();
}

/// An IPv6 UDP datagram with 64 bytes of payload.
inline FrameBuilder::Bytes udp6() {
  return FrameBuilder()
      .eth(testing::kEthIpv6)
      .ipv6("fd00::2", "fd00::3", IPPROTO_UDP, 8 + 64)
      .udp(4000, 53, 64)
      .payload(64)
      .build();
}

/// Mean ns per run of `repeat` runs on one frame, as the kernel measures it; exits on failure.
inline double ns_per_packet(int prog, const FrameBuilder::Bytes& frame, std::uint32_t repeat) {
  const auto r = bpf::test_run(prog, frame, repeat);
  if (!r) {
    std::fprintf(stderr, "test run failed: %s\n", r.error().to_string().c_str());
    std::exit(1);
  }
  return r->duration_ns;
}

/// The memory the kernel charges for a map (fdinfo "memlock:").
inline std::uint64_t map_memlock(int fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("memlock:", 0) == 0) return std::stoull(line.substr(8));
  }
  return 0;
}

}  // namespace podpath::bench

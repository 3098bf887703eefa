#pragma once
// Helpers shared by the cgroup_flow BPF tests: the caller's cgroup and namespace, test runs
// of cgroup_skb programs with a context (gso_segs).
#include <bpf/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../common/netns_cookie.hpp"
#include "inventory/cgroup_path.hpp"
#include "util/system.hpp"

namespace podpath::testing {

/// The cgroup v2 directory of this process ("0::/path" in /proc/self/cgroup).
inline std::filesystem::path own_cgroup_dir() {
  const auto mount = podpath::find_mount("cgroup2");
  if (!mount) return {};
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return *mount / std::filesystem::path(line.substr(3)).relative_path();
  }
  return {};
}

/// The cgroup id of a directory (its inode), 0 when it cannot be read.
inline std::uint64_t inode_of(const std::filesystem::path& p) {
  const auto id = podpath::inventory::cgroup_id_of(p);
  return id ? *id : 0;
}

using podpath::testing::current_netns_cookie;
using podpath::testing::socket_netns_cookie;

struct CgTestRun {
  int err = 0;  // negative errno from the syscall
  std::uint32_t retval = 0;
  std::uint32_t duration_ns = 0;
  std::vector<std::uint8_t> data_out;
};

/// Runs a cgroup_skb program on an Ethernet frame (the kernel strips the Ethernet header:
/// the program sees the IP packet). `gso_segs` > 0 makes it a GSO skb of that many segments.
inline CgTestRun cg_test_run(int prog_fd, const std::vector<std::uint8_t>& frame, std::uint32_t repeat = 1,
                             std::uint32_t gso_segs = 0) {
  CgTestRun r;
  r.data_out.resize(frame.size() + 256);
  __sk_buff ctx{};
  ctx.gso_segs = gso_segs;
  ctx.gso_size = gso_segs > 0 ? 100 : 0;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = r.data_out.data(),
              .data_size_in = static_cast<__u32>(frame.size()),
              .data_size_out = static_cast<__u32>(r.data_out.size()), .ctx_in = &ctx,
              .ctx_size_in = sizeof(ctx), .repeat = static_cast<int>(repeat));
  r.err = bpf_prog_test_run_opts(prog_fd, &opts);
  r.retval = opts.retval;
  r.duration_ns = opts.duration;
  r.data_out.resize(opts.data_size_out);
  return r;
}

}  // namespace podpath::testing

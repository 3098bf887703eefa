// Per-packet cost of the cgroup_flow programs (container attribution) under
// BPF_PROG_TEST_RUN, against an empty cgroup_skb program measured in the same run, for each
// way of reading the socket's network namespace; and map memory per entry. Prints a
// Markdown report (docs/containers.md). Needs root. Usage: podpath_bench_cgroup [runs]
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../common/frames.hpp"
#include "../common/loopback.hpp"
#include "bench_util.hpp"
#include "bpf/cgroup_datapath.hpp"
#include "bpf/handles.hpp"
#include "bpf/test_run.hpp"
#include "empty_cgroup_skb.skel.h"
#include "util/system.hpp"

using podpath::bpf::CgroupDatapath;
using podpath::bpf::CgroupDatapathOptions;
using podpath::bpf::CgroupNetnsMode;
using podpath::testing::FrameBuilder;
namespace t = podpath::testing;
using namespace podpath::bench;

namespace {

constexpr std::uint32_t kRepeat = 1'000'000;
constexpr std::uint32_t kNewEntries = 100'000;

// Mean ns per packet when every packet is a new entry (ports randomised in the program, a
// few ns included), warm caches: the first packet of each connection.
double first_packet_ns(CgroupNetnsMode mode, const FrameBuilder::Bytes& frame);

std::unique_ptr<CgroupDatapath> load(CgroupNetnsMode mode, std::uint32_t entries, bool unique = false) {
  CgroupDatapathOptions o;
  o.netns_mode = mode;
  o.max_entries = entries;
  o.bench_unique = unique;
  auto dp = CgroupDatapath::load(o);
  if (!dp) {
    std::fprintf(stderr, "%s\n", dp.error().to_string().c_str());
    std::exit(1);
  }
  return std::move(*dp);
}

double first_packet_ns(CgroupNetnsMode mode, const FrameBuilder::Bytes& frame) {
  auto dp = load(mode, 2 * kNewEntries, true);
  const double ns = ns_per_packet(dp->egress_fd(), frame, kNewEntries);
  const auto c = dp->read_counters();
  if (!c || (*c)[podpath::bpf::CgroupCounter::NewEntries] < kNewEntries * 99 / 100 ||
      (*c)[podpath::bpf::CgroupCounter::InsertFull] != 0) {
    std::fprintf(stderr, "new-entry run did not insert every entry\n");
    std::exit(1);
  }
  return ns;
}

double now_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// 64-byte UDP datagrams over loopback for `seconds`, from a child process in `cgroup` and a
// network namespace of its own: datagrams per second the sender managed (one core; the
// receive path runs in the same call). Both cgroup_skb hooks run per datagram when attached.
double udp_pps(const std::filesystem::path& cgroup, double seconds) {
  int fds[2];
  if (pipe(fds) != 0) std::exit(1);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    double rate = 0;
    { std::ofstream(cgroup / "cgroup.procs") << "0\n"; }
    t::UdpLoopback lo;
    if (unshare(CLONE_NEWNET) == 0 && t::open_udp_loopback(lo)) {
      const int rx = lo.rx, tx = lo.tx;
      char buf[64 - 28] = {};
      char sink[64];
      std::uint64_t n = 0;
      const double t0 = now_s();
      double t = t0;
      while (t - t0 < seconds) {
        for (int i = 0; i < 256; ++i) {
          send(tx, buf, sizeof(buf), 0);
          recv(rx, sink, sizeof(sink), MSG_DONTWAIT);
        }
        n += 256;
        t = now_s();
      }
      rate = static_cast<double>(n) / (t - t0);
    }
    (void)!write(fds[1], &rate, sizeof(rate));
    _exit(0);
  }
  close(fds[1]);
  double rate = 0;
  (void)!read(fds[0], &rate, sizeof(rate));
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "podpath_bench_cgroup: run as root (loads BPF programs)\n");
    return 2;
  }
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  empty_cgroup_skb* empty = empty_cgroup_skb__open_and_load();
  if (empty == nullptr) {
    std::fprintf(stderr, "cannot load the empty baseline program\n");
    return 1;
  }
  const int empty_fd = bpf_program__fd(empty->progs.pp_bench_cg_empty);
  const auto features = podpath::bpf::probe_cgroup_features();
  const auto f4 = tcp4(43512);
  const auto f6 = udp6();

  fmt::print("## Per-packet cost of cgroup_flow (BPF_PROG_TEST_RUN, median of {} runs)\n\n", runs);
  fmt::print(
      "Egress program; IPv4 TCP {} B and IPv6 UDP {} B packets, repeat {}. \"over empty\" = cgroup_flow "
      "minus an empty cgroup_skb program measured in the same run. First packet: every one of {} repeats "
      "inserts a new entry (ports randomised in the program, a few ns included). In a "
      "test run the socket is a dummy one: sock-cast finds no TCP socket there and records cookie 0 "
      "(on real TCP sockets it follows two more pointers).\n\n",
      f4.size() - 14, f6.size() - 14, kRepeat, kNewEntries);
  fmt::print("| namespace mode | empty program | existing IPv4 entry | over empty | existing IPv6 entry | "
             "over empty | first packet | over empty |\n|---|---|---|---|---|---|---|---|\n");
  std::vector<CgroupNetnsMode> modes;
  if (features.netns_helper) modes.push_back(CgroupNetnsMode::Helper);
  if (features.kern_ctx) modes.push_back(CgroupNetnsMode::KernCtx);
  if (features.sock_cast) modes.push_back(CgroupNetnsMode::SockCast);
  modes.push_back(CgroupNetnsMode::None);
  // Modes interleaved run by run, so that drift on a busy machine hits them alike.
  std::vector<std::vector<double>> e(modes.size()), v4(modes.size()), v6(modes.size()), fp(modes.size());
  for (int r = 0; r < runs; ++r) {
    for (std::size_t m = 0; m < modes.size(); ++m) {
      auto dp = load(modes[m], 65536);
      const int prog = dp->egress_fd();
      ns_per_packet(prog, f4, 1);  // the entries now exist
      ns_per_packet(prog, f6, 1);
      e[m].push_back(ns_per_packet(empty_fd, f4, kRepeat));
      v4[m].push_back(ns_per_packet(prog, f4, kRepeat));
      v6[m].push_back(ns_per_packet(prog, f6, kRepeat));
      fp[m].push_back(first_packet_ns(modes[m], f4));
    }
  }
  for (std::size_t m = 0; m < modes.size(); ++m) {
    const double me = median(e[m]), m4 = median(v4[m]), m6 = median(v6[m]), mfp = median(fp[m]);
    fmt::print(
        "| {} | {:.1f} ns | {:.1f} ns | +{:.1f} ns | {:.1f} ns | +{:.1f} ns | {:.0f} ns | +{:.0f} ns |\n",
        podpath::bpf::to_string(modes[m]), me, m4, m4 - me, m6, m6 - me, mfp, mfp - me);
  }

  fmt::print("\n## Map memory per container-flows entry (kernel's memlock accounting)\n\n");
  auto a = load(CgroupNetnsMode::None, 65536);
  auto b = load(CgroupNetnsMode::None, 131072);
  const auto ma = map_memlock(a->flows_map_fd()), mb = map_memlock(b->flows_map_fd());
  fmt::print("{:.0f} bytes per entry (56-byte key, 48-byte value, hash element header); 65536 entries = "
             "{:.1f} MiB\n",
             static_cast<double>(mb - ma) / 65536, static_cast<double>(ma) / (1 << 20));

  // Real sockets: what attribution costs a sender (both hooks per datagram).
  const auto mount = podpath::find_mount("cgroup2");
  if (mount) {
    const std::filesystem::path cg = *mount / ("podpath-bench." + std::to_string(getpid()));
    std::filesystem::create_directory(cg);
    std::vector<double> off, base, on;
    auto dp = load(features.best_netns_mode(), 65536);
    const int cg_fd = ::open(cg.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int r = 0; r < runs; ++r) {
      off.push_back(udp_pps(cg, 1.0));
      {
        const podpath::bpf::BpfLink out(bpf_program__attach_cgroup(empty->progs.pp_bench_cg_empty, cg_fd));
        const podpath::bpf::BpfLink in(bpf_program__attach_cgroup(empty->progs.pp_bench_cg_empty_in, cg_fd));
        base.push_back(udp_pps(cg, 1.0));
      }
      auto att = dp->attach(cg);
      if (!att) {
        std::fprintf(stderr, "%s\n", att.error().to_string().c_str());
        break;
      }
      on.push_back(udp_pps(cg, 1.0));
    }
    ::close(cg_fd);
    std::filesystem::remove(cg);
    const double moff = median(off), mbase = median(base), mon = median(on);
    fmt::print("\n## Real sockets: 64-byte UDP over loopback, one sender (median of {} runs of 1 s)\n\n",
               runs);
    fmt::print("Each datagram passes the egress and the ingress hook. \"Empty programs\" isolates what the "
               "kernel's cgroup_skb hook costs once anything is attached.\n\n");
    fmt::print("| | datagrams/s | per datagram | vs not attached |\n|---|---|---|---|\n");
    fmt::print("| not attached | {:.0f} | {:.0f} ns | |\n", moff, 1e9 / moff);
    fmt::print("| empty cgroup_skb programs attached | {:.0f} | {:.0f} ns | {:+.1f} % ({:+.0f} ns) |\n",
               mbase, 1e9 / mbase, (mbase / moff - 1) * 100, 1e9 / mbase - 1e9 / moff);
    fmt::print("| cgroup_flow attached ({}) | {:.0f} | {:.0f} ns | {:+.1f} % ({:+.0f} ns) |\n",
               podpath::bpf::to_string(features.best_netns_mode()), mon, 1e9 / mon, (mon / moff - 1) * 100,
               1e9 / mon - 1e9 / moff);
  }
  empty_cgroup_skb__destroy(empty);
  return 0;
}

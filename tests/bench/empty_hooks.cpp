// The empty TC program on interfaces of lab namespaces, for scripts/bench's flood: what any
// TC observer costs before it does any work, on the same hook podpath uses (tcx or classic).
//   podpath_bench_empty_hooks tcx|clsact READY_FILE NETNS/IFACE...
// Attaches to both directions of every interface, creates READY_FILE, waits for SIGTERM or
// SIGINT, then detaches everything (also when an attach fails half-way).
#include <net/if.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/attach.hpp"
#include "bpf/libbpf_log.hpp"
#include "empty_tc.skel.h"
#include "net/netns.hpp"

namespace {

struct Attached {
  std::string netns;
  std::unique_ptr<podpath::bpf::InterfaceHooks> hooks;
};

int usage() {
  std::fprintf(stderr, "usage: podpath_bench_empty_hooks tcx|clsact READY_FILE NETNS/IFACE...\n");
  return 2;
}

void detach_all(std::vector<Attached>& all) {
  for (auto& a : all) {
    auto r = podpath::net::in_netns(a.netns, [&] { return a.hooks->detach(); });
    if (!r) std::fprintf(stderr, "detach in %s: %s\n", a.netns.c_str(), r.error().to_string().c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const std::string_view mode_arg = argv[1];
  if (mode_arg != "tcx" && mode_arg != "clsact") return usage();
  const auto mode = mode_arg == "tcx" ? podpath::bpf::AttachMode::Tcx : podpath::bpf::AttachMode::Clsact;
  // As podpath does: the attach code's expected misses (an empty TC slot) stay out of stderr.
  podpath::bpf::route_libbpf_log_to_spdlog();
  // Block the stop signals before attaching: they are taken with sigwait below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  std::unique_ptr<empty_tc, decltype(&empty_tc__destroy)> skel(empty_tc__open_and_load(), empty_tc__destroy);
  if (!skel) {
    std::fprintf(stderr, "cannot load the empty TC program\n");
    return 1;
  }
  const int fd = bpf_program__fd(skel->progs.pp_tc_bench_empty);
  const podpath::bpf::ProgramPair progs{fd, fd};
  const podpath::bpf::TcSlot slot{0x7071, 0x7071};  // next to podpath's own slot
  std::vector<Attached> all;
  for (int i = 3; i < argc; ++i) {
    const std::string spec = argv[i];
    const auto slash = spec.find('/');
    if (slash == std::string::npos) return usage();
    const std::string netns = spec.substr(0, slash), iface = spec.substr(slash + 1);
    // In the namespace: find the interface, attach, keep the hooks (returned as a plain
    // Result<void>: GCC 12 flags Result<unique_ptr> through in_netns with a false
    // -Wfree-nonheap-object).
    std::unique_ptr<podpath::bpf::InterfaceHooks> hooks;
    auto attached = podpath::net::in_netns(netns, [&]() -> podpath::Result<void> {
      const unsigned ifindex = if_nametoindex(iface.c_str());
      if (ifindex == 0) return podpath::make_error(errno, "no interface {}", iface);
      auto h = podpath::bpf::InterfaceHooks::attach(mode, static_cast<int>(ifindex), progs, slot);
      if (!h) return h.error();
      hooks = std::move(*h);
      return {};
    });
    if (!attached) {
      std::fprintf(stderr, "%s: %s\n", spec.c_str(), attached.error().to_string().c_str());
      detach_all(all);
      return 1;
    }
    all.push_back({netns, std::move(hooks)});
  }
  std::ofstream(argv[2]) << "ready\n";
  int sig = 0;
  sigwait(&stop, &sig);
  detach_all(all);
  return 0;
}

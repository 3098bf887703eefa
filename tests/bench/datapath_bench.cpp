// Per-packet cost of the tc_flow programs under BPF_PROG_TEST_RUN, against an empty TC
// program measured in the same run, for each flows-map organisation; and map memory per
// tracked flow. Prints a Markdown report. Needs root. Usage: podpath_bench_datapath [runs]
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "../common/frames.hpp"
#include "../common/netns_cookie.hpp"
#include "bench_util.hpp"
#include "bpf/datapath.hpp"
#include "bpf/events.hpp"
#include "bpf/test_run.hpp"
#include "empty_tc.skel.h"

using podpath::bpf::Datapath;
using podpath::bpf::DatapathOptions;
using podpath::bpf::FlowMapKind;
using podpath::testing::FrameBuilder;
namespace t = podpath::testing;
using namespace podpath::bench;

namespace {

constexpr std::uint32_t kRepeat = 1'000'000;
constexpr std::uint32_t kNewFlows = 100'000;

// Mean ns per packet when every packet is a new flow (warm caches, repeat loop).
// New flows in bursts of kBurst (each burst's events fit the default 256 KiB ring buffer),
// the reader draining the ring between bursts as `podpath trace` does: the ring is reused,
// so its memory is as warm as in production. Median over the bursts; a burst that loses
// any flow or event is rejected.
constexpr std::uint32_t kBurst = 2000;

double new_flow_ns(FlowMapKind kind, const FrameBuilder::Bytes& frame, bool pod_ingress, bool events = true) {
  DatapathOptions o;
  o.flow_map = kind;
  o.max_flows = 2 * kNewFlows;
  o.bench_unique_flows = true;
  o.events = events;
  auto dp = Datapath::load(o);
  if (!dp) {
    std::fprintf(stderr, "%s\n", dp.error().to_string().c_str());
    std::exit(1);
  }
  if (pod_ingress) {
    (void)(*dp)->set_cidrs({{*podpath::model::Cidr::parse("10.10.129.0/24"), 1, true},
                            {*podpath::model::Cidr::parse("10.10.130.0/24"), 2, true}});
    (void)(*dp)->set_iface_role(podpath::testing::current_netns_cookie(), 1,
                                podpath::model::InterfaceRole::PodVeth);
  }
  auto reader = podpath::bpf::EventReader::open(**dp, [](const auto&) {});
  if (!reader) {
    std::fprintf(stderr, "%s\n", reader.error().to_string().c_str());
    std::exit(1);
  }
  const int prog = (*(*dp)->programs_for(0)).ingress;
  std::vector<double> bursts;
  for (std::uint32_t done = 0; done < kNewFlows; done += kBurst) {
    bursts.push_back(ns_per_packet(prog, frame, kBurst));
    (void)(*reader)->poll(0);
  }
  const auto c = (*dp)->read_counters();
  if (!c || (*c)[podpath::bpf::FlowCounter::NewFlows] < kNewFlows * 99 / 100 ||
      (*c)[podpath::bpf::FlowCounter::EventsLost] != 0) {  // NOLINT
    std::fprintf(stderr, "new-flow run lost flows or events\n");
    std::exit(1);
  }
  return median(bursts);
}

const char* kind_name(FlowMapKind k) {
  switch (k) {
  case FlowMapKind::Hash:
    return "shared hash + atomics";
  case FlowMapKind::LruHash:
    return "shared LRU hash + atomics";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "podpath_bench_datapath: run as root (loads BPF programs)\n");
    return 2;
  }
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  empty_tc* empty = empty_tc__open_and_load();
  if (empty == nullptr) {
    std::fprintf(stderr, "cannot load the empty baseline program\n");
    return 1;
  }
  const int empty_fd = bpf_program__fd(empty->progs.pp_bench_empty);
  const auto f4 = tcp4(43512, 5432);
  const auto f6 = udp6();

  fmt::print("## Per-packet cost (BPF_PROG_TEST_RUN, repeat {}, median of {} runs)\n\n", kRepeat, runs);
  fmt::print("Frames: IPv4 TCP {} B, IPv6 UDP {} B. \"over empty\" = tc_flow minus the empty TC program, "
             "measured in the same run.\n\n",
             f4.size(), f6.size());
  fmt::print("New flow: the same program loaded with ports randomised per run (bpf_get_prandom_u32, a few "
             "ns, included), so each of {} repeats inserts a flow and emits an event; at a plain interface "
             "(no CIDR lookups) and at a pod veth ingress (2 LPM lookups + CIDR matrix).\n\n",
             kNewFlows);
  fmt::print(
      "| flows map | empty program | existing IPv4 TCP flow | over empty | existing IPv6 flow | over empty | "
      "new flow | over empty | new flow, pod ingress | over empty | new flow, events off, over empty |\n");
  fmt::print("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (FlowMapKind kind : {FlowMapKind::Hash, FlowMapKind::LruHash}) {
    DatapathOptions o;
    o.flow_map = kind;
    o.max_flows = 262144;
    auto dp = Datapath::load(o);
    if (!dp) {
      std::fprintf(stderr, "%s\n", dp.error().to_string().c_str());
      return 1;
    }
    (void)(*dp)->set_cidrs({{*podpath::model::Cidr::parse("10.10.129.0/24"), 1, false},
                            {*podpath::model::Cidr::parse("10.10.130.0/24"), 2, false}});
    const int prog = (*(*dp)->programs_for(0)).ingress;
    ns_per_packet(prog, f4, 1);  // the flows now exist
    ns_per_packet(prog, f6, 1);
    std::vector<double> e, v4, v6, nf, nfp, nfq;
    for (int r = 0; r < runs; ++r) {
      e.push_back(ns_per_packet(empty_fd, f4, kRepeat));
      v4.push_back(ns_per_packet(prog, f4, kRepeat));
      v6.push_back(ns_per_packet(prog, f6, kRepeat));
      nf.push_back(new_flow_ns(kind, f4, false));
      nfp.push_back(new_flow_ns(kind, f4, true));
      nfq.push_back(new_flow_ns(kind, f4, false, false));
    }
    const double me = median(e), m4 = median(v4), m6 = median(v6), mn = median(nf), mp = median(nfp),
                 mq = median(nfq);
    fmt::print("| {} | {:.1f} ns | {:.1f} ns | +{:.1f} ns ({:.2f}x) | {:.1f} ns | +{:.1f} ns ({:.2f}x) | "
               "{:.0f} ns | +{:.0f} ns | {:.0f} ns | +{:.0f} ns | +{:.0f} ns |\n",
               kind_name(kind), me, m4, m4 - me, m4 / me, m6, m6 - me, m6 / me, mn, mn - me, mp, mp - me,
               mq - me);
  }

  fmt::print("\n## Map memory per tracked flow (kernel's memlock accounting of the flows maps)\n\n");
  fmt::print("| flows map | IPv4 entry (pp_flows4) | IPv6 entry (pp_flows) |\n|---|---|---|\n");
  for (FlowMapKind kind : {FlowMapKind::Hash, FlowMapKind::LruHash}) {
    DatapathOptions a, b;
    a.flow_map = b.flow_map = kind;
    a.max_flows = 65536;
    b.max_flows = 131072;
    auto da = Datapath::load(a);
    auto db = Datapath::load(b);
    if (!da || !db) return 1;
    const auto per = [&](int fa, int fb) {
      return static_cast<double>(map_memlock(fb) - map_memlock(fa)) / (b.max_flows - a.max_flows);
    };
    fmt::print("| {} | {:.0f} B | {:.0f} B |\n", kind_name(kind),
               per((*da)->flows4_map_fd(), (*db)->flows4_map_fd()),
               per((*da)->flows_map_fd(), (*db)->flows_map_fd()));
  }
  empty_tc__destroy(empty);
  return 0;
}

// Per-packet cost of the tc_flow programs under BPF_PROG_TEST_RUN, each case against an empty
// TC program measured in the same round, for each flows-map organisation; and map memory per
// tracked flow. Prints a Markdown report. Needs root.
// Usage: podpath_bench_datapath [rounds] [--quick] [--parts]
//   --quick: the default flows map only (no LRU, map memory or NAT lookup sections)
//   --parts: also what each part of an existing flow's work costs (bench-only variants)
#include <fmt/format.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../common/frames.hpp"
#include "../common/netns_cookie.hpp"
#include "bench_util.hpp"
#include "bpf/datapath.hpp"
#include "bpf/events.hpp"
#include "bpf/test_run.hpp"
#include "ct_lookup.skel.h"
#include "empty_tc.skel.h"
#include "podpath_abi.h"

using podpath::bpf::Datapath;
using podpath::bpf::DatapathOptions;
using podpath::bpf::FlowCounter;
using podpath::bpf::FlowMapKind;
using podpath::testing::FrameBuilder;
using namespace podpath::bench;

namespace {

constexpr std::uint32_t kRepeat = 1'000'000;
constexpr std::uint32_t kDefaultMaxFlows = 65536;  // podpath trace --max-flows default
constexpr std::uint32_t kLargeMaxFlows = 1 << 20;
// New flows in bursts of kBurst (each burst's events fit the default 256 KiB ring buffer, its
// keys the change log), the reader draining both between bursts as `podpath trace` does: the
// rings are reused, so their memory is as warm as in production. Median over the bursts; a run
// that loses any flow, event or logged key is rejected.
constexpr std::uint32_t kBurst = 2000;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "podpath_bench_datapath: %s\n", what.c_str());
  std::exit(1);
}

std::unique_ptr<Datapath> load(const DatapathOptions& o) {
  auto dp = Datapath::load(o);
  if (!dp) die(dp.error().to_string());
  return std::move(*dp);
}

// The loopback device of this namespace as a pod veth, with the lab's two pod CIDRs: new
// flows classify both addresses (2 LPM lookups) and count into the CIDR matrix.
void make_pod_ingress(Datapath& dp) {
  (void)dp.set_cidrs({{*podpath::model::Cidr::parse("10.10.129.0/24"), 1, true},
                      {*podpath::model::Cidr::parse("10.10.130.0/24"), 2, true}});
  (void)dp.set_iface_role(podpath::testing::current_netns_cookie(), 1,
                          podpath::model::InterfaceRole::PodVeth);
}

struct NewFlowRun {
  FlowMapKind kind = FlowMapKind::Hash;
  std::uint32_t max_flows = kDefaultMaxFlows;
  std::uint32_t flows = 50'000;  ///< new flows inserted (the map is filled to this)
  bool pod_ingress = false;
  bool events = true;
  bool egress = false;  ///< run the egress program (where NAT is recorded)
  bool nat = false;     ///< with NAT recording on (the test-run skb carries no conntrack entry)
};

// Mean ns per packet when every packet is a new flow: the program loaded with its ports
// randomised per run (bpf_get_prandom_u32, a few ns, included), so each repeat inserts.
double new_flow_ns(const NewFlowRun& run, const FrameBuilder::Bytes& frame) {
  DatapathOptions o;
  o.flow_map = run.kind;
  o.max_flows = run.max_flows;
  o.bench_unique_flows = true;
  o.events = run.events;
  o.nat = run.nat;
  auto dp = load(o);
  if (run.pod_ingress) make_pod_ingress(*dp);
  auto reader = podpath::bpf::EventReader::open(*dp, [](const auto&) {});
  if (!reader) die(reader.error().to_string());
  const auto progs = *dp->programs_for(0);
  const int prog = run.egress ? progs.egress : progs.ingress;
  std::vector<double> bursts;
  for (std::uint32_t done = 0; done < run.flows; done += kBurst) {
    bursts.push_back(ns_per_packet(prog, frame, kBurst));
    (void)(*reader)->poll(0);
    // A refresh's drain of the change log too: every new entry logs its key there.
    if (auto d = dp->drain_change_log(); !d) die(d.error().to_string());
  }
  const auto c = dp->read_counters();
  if (!c || (*c)[FlowCounter::NewFlows] < run.flows * 99 / 100 || (*c)[FlowCounter::EventsLost] != 0 ||
      (*c)[FlowCounter::ChangeLogFull] != 0) {  // NOLINT
    die("a new-flow run lost flows, events or change-log records");
  }
  return median(bursts);
}

// Mean ns per packet of flows that cannot be tracked: the map (1024 entries) is full and
// every packet is a new flow at a pod veth ingress.
double map_full_ns(const FrameBuilder::Bytes& frame) {
  DatapathOptions o;
  o.max_flows = 1024;
  o.bench_unique_flows = true;
  auto dp = load(o);
  make_pod_ingress(*dp);
  const int prog = (*dp->programs_for(0)).ingress;
  ns_per_packet(prog, frame, 4 * o.max_flows);  // fills the map
  const double ns = ns_per_packet(prog, frame, kRepeat / 10);
  const auto c = dp->read_counters();
  if (!c || (*c)[FlowCounter::FlowInsertFull] < kRepeat / 10) die("the map-full run tracked flows");
  return ns;
}

const char* kind_name(FlowMapKind k) {
  return k == FlowMapKind::LruHash ? "shared LRU hash + atomics" : "shared hash + atomics (default)";
}

// One row: a per-round measurement, compared with the empty program of the same round (the
// one that draws a random number, for the new-flow rows: see empty_tc.bpf.c).
struct Case {
  std::string name;
  std::string target;
  std::function<double()> measure;
  std::vector<double> ns, over;
  bool random_ports = false;
};

}  // namespace

// The NAT-following candidate podpath did not take (docs/services.md): bpf_skb_ct_lookup by
// the packet's tuple, without an entry and with one, each round against the empty program.
// Runs in a network namespace of its own (entered for the rest of the process), where
// conntrack(8) adds the entry of the frame's tuple for the second case.
void ct_lookup_report(int rounds, int empty_fd, const FrameBuilder::Bytes& f4) {
  fmt::print("## NAT lookup by tuple: bpf_skb_ct_lookup (the candidate podpath does not use)\n\n");
  if (unshare(CLONE_NEWNET) != 0) die("unshare(CLONE_NEWNET) failed");
  ct_lookup* skel = ct_lookup__open_and_load();
  if (skel == nullptr) {
    fmt::print(
        "Not measured: this kernel refused a program calling bpf_skb_ct_lookup (no conntrack kfuncs).\n\n");
    return;
  }
  const int fd = bpf_program__fd(skel->progs.pp_tc_bench_ct_lookup);
  const auto measure = [&](std::vector<double>& ns, std::vector<double>& over) {
    for (int r = 0; r < rounds; ++r) {
      const double e = ns_per_packet(empty_fd, f4, kRepeat);
      ns.push_back(ns_per_packet(fd, f4, kRepeat));
      const double e2 = ns_per_packet(empty_fd, f4, kRepeat);
      over.push_back(ns.back() - (e + e2) / 2);
    }
  };
  const auto found_after_one = [&] {
    const auto before = skel->bss->pp_bench_ct_found;
    ns_per_packet(fd, f4, 1);
    return skel->bss->pp_bench_ct_found > before;
  };
  fmt::print(
      "| case | bpf_skb_ct_lookup (median) | over the empty program (median per round) |\n|---|---|---|\n");
  std::vector<double> miss, miss_over;
  if (found_after_one()) die("a conntrack entry exists in a new network namespace");
  measure(miss, miss_over);
  fmt::print("| no entry (a connection's first packet before conntrack saw it) | {:.0f} ns | {:+.0f} ns |\n",
             median(miss), median(miss_over));
  // The frame's tuple (tcp4: 10.10.129.2:43512 -> 10.10.130.2:5432), in this namespace only.
  const int rc = std::system(
      "conntrack -I -p tcp -s 10.10.129.2 -d 10.10.130.2 --sport 43512 --dport 5432 --state ESTABLISHED "
      "-t 300 -u ASSURED >/dev/null 2>&1");
  if (rc != 0 || !found_after_one()) {
    fmt::print("| entry found | not measured: conntrack(8) could not add the entry | |\n\n");
  } else {
    std::vector<double> hit, hit_over;
    measure(hit, hit_over);
    fmt::print("| entry found (and released) | {:.0f} ns | {:+.0f} ns |\n\n", median(hit), median(hit_over));
  }
  ct_lookup__destroy(skel);
}

// What each part of an existing flow's per-packet work costs: the program loaded once whole and
// once without each part (pp_cfg_bench_without; the verifier removes the left-out code), every
// variant measured in every round; the difference to the whole program is taken per round.
void parts_report(int rounds, int empty_fd, const FrameBuilder::Bytes& f4, const FrameBuilder::Bytes& f6) {
  struct Variant {
    const char* name = "";
    std::uint32_t without = 0;
    std::unique_ptr<Datapath> dp;
    int prog = -1;
    std::vector<double> over4, over6, less4, less6;
  };
  constexpr std::uint32_t kAll = PP_BENCH_WITHOUT_PACKETS | PP_BENCH_WITHOUT_ATOMICS |
                                 PP_BENCH_WITHOUT_CLOCK | PP_BENCH_WITHOUT_TAG | PP_BENCH_WITHOUT_NETNS;
  const std::pair<const char*, std::uint32_t> kinds[] = {
      {"whole program", 0},
      {"without the `packets` health counter", PP_BENCH_WITHOUT_PACKETS},
      {"plain adds instead of the two atomics", PP_BENCH_WITHOUT_ATOMICS},
      {"without the clock", PP_BENCH_WITHOUT_CLOCK},
      {"without the key tag", PP_BENCH_WITHOUT_TAG},
      {"without the namespace read", PP_BENCH_WITHOUT_NETNS},
      {"without all five", kAll},
  };
  std::vector<Variant> vs(std::size(kinds));
  for (std::size_t i = 0; i < vs.size(); ++i) {
    vs[i].name = kinds[i].first;
    vs[i].without = kinds[i].second;
  }
  for (auto& v : vs) {
    DatapathOptions o;
    o.bench_without = v.without;
    v.dp = load(o);
    v.prog = (*v.dp->programs_for(0)).ingress;
    ns_per_packet(v.prog, f4, 1);  // the flows now exist
    ns_per_packet(v.prog, f6, 1);
  }
  for (int r = 0; r < rounds; ++r) {
    const double e = ns_per_packet(empty_fd, f4, kRepeat);
    std::vector<double> n4, n6;
    // Interleaved: IPv4 of every variant, then IPv6 of every variant.
    for (auto& v : vs) n4.push_back(ns_per_packet(v.prog, f4, kRepeat));
    for (auto& v : vs) n6.push_back(ns_per_packet(v.prog, f6, kRepeat));
    const double e2 = ns_per_packet(empty_fd, f4, kRepeat);
    for (std::size_t i = 0; i < vs.size(); ++i) {
      vs[i].over4.push_back(n4[i] - (e + e2) / 2);
      vs[i].over6.push_back(n6[i] - (e + e2) / 2);
      vs[i].less4.push_back(n4[0] - n4[i]);
      vs[i].less6.push_back(n6[0] - n6[i]);
    }
    std::fprintf(stderr, "bench: parts round %d/%d: empty program %.0f / %.0f ns\n", r + 1, rounds, e, e2);
  }
  fmt::print("## What each part of an existing flow costs ({} rounds)\n\n", rounds);
  fmt::print(
      "Bench-only variants of the program, each without one part (its counts are then wrong), all loaded "
      "at once and measured in every round. \"saves\" is the median over rounds of (whole program - "
      "variant) in the same round; in brackets the spread (min…max) over rounds.\n\n"
      "| variant | IPv4 TCP over empty | saves | IPv6 UDP over empty | saves |\n|---|---|---|---|---|\n");
  const auto spread = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return fmt::format("{:+.0f} ({:+.0f}…{:+.0f})", median(v), v.front(), v.back());
  };
  for (const auto& v : vs) {
    fmt::print("| {} | {} | {} | {} | {} |\n", v.name, spread(v.over4), v.without ? spread(v.less4) : "—",
               spread(v.over6), v.without ? spread(v.less6) : "—");
  }
  fmt::print("\n");
}

// Pins the calling thread to `cpu` (-1: every CPU again).
void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  for (long c = 0; c < n; ++c) {
    if (cpu < 0 || c == cpu) CPU_SET(static_cast<int>(c), &set);
  }
  if (sched_setaffinity(0, sizeof(set), &set) != 0) die("cannot pin a thread to a CPU");
}

// Do the entries of one flows map slow each other down when two CPUs count in them at once?
// Two flows whose entries were created one after the other (neighbours in the map's memory:
// a cache line may hold the end of one and the start of the other), two far apart (200
// entries created between them), and one flow counted on both CPUs at once (its counters'
// cache line moves between the CPUs at every packet). Each CPU runs the program on its own
// frame; the figure is the mean of the two CPUs' ns per run, against the same mean with the
// CPUs running one after the other in the same round.
void sharing_report(int rounds) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
    fmt::print("## Two CPUs at once\n\nOne CPU online: not measured.\n\n");
    return;
  }
  auto dp = load(DatapathOptions{});
  const int prog = (*dp->programs_for(0)).ingress;
  const auto a = tcp4(40000), b = tcp4(40001), far = tcp4(42000);
  ns_per_packet(prog, a, 1);
  ns_per_packet(prog, b, 1);
  for (std::uint16_t i = 0; i < 200; ++i) ns_per_packet(prog, tcp4(static_cast<std::uint16_t>(41000 + i)), 1);
  ns_per_packet(prog, far, 1);
  // `frame` measured on CPU 1 by a thread of its own; `out` holds the figure once it is joined.
  const auto on_cpu1 = [&](const FrameBuilder::Bytes& frame, double& out) {
    return std::thread([&] {
      pin(1);
      out = ns_per_packet(prog, frame, kRepeat);
    });
  };
  // One CPU at a time, each: CPUs of a VM need not be equally fast.
  const auto each = [&](const FrameBuilder::Bytes& x) {
    const double mine = ns_per_packet(prog, x, kRepeat);
    double other = 0;
    on_cpu1(x, other).join();
    return (mine + other) / 2;
  };
  const auto both = [&](const FrameBuilder::Bytes& x, const FrameBuilder::Bytes& y) {
    double other = 0;
    std::thread t = on_cpu1(y, other);
    const double mine = ns_per_packet(prog, x, kRepeat);
    t.join();
    return (mine + other) / 2;
  };
  pin(0);
  std::vector<double> alone, neighbours, apart, shared;
  for (int r = 0; r < rounds; ++r) {
    alone.push_back(each(a));
    neighbours.push_back(both(a, b));
    apart.push_back(both(a, far));
    shared.push_back(both(a, a));
    std::fprintf(stderr, "bench: two CPUs round %d/%d\n", r + 1, rounds);
  }
  pin(-1);
  fmt::print("## Two CPUs at once: neighbouring entries, one shared entry ({} rounds)\n\n", rounds);
  fmt::print(
      "The default flows map; existing IPv4 TCP flows, repeat {} on each CPU at once (CPU 0 and 1). "
      "Neighbours: two flows whose entries were created one after the other; far apart: 200 entries "
      "created between them; one flow on both: the same entry counted by both CPUs (RSS or RPS "
      "spreading one flow's packets). Median over rounds of the mean of the two CPUs' ns per run, and of its "
      "difference to the same mean with each CPU running alone, one after the other, in the same round.\n\n"
      "| case | ns per run | over each CPU alone |\n|---|---|---|\n",
      kRepeat);
  const auto over = [&](const std::vector<double>& v) {
    std::vector<double> d;
    for (std::size_t i = 0; i < v.size(); ++i) d.push_back(v[i] - alone[i]);
    return median(d);
  };
  fmt::print("| each CPU alone, one after the other | {:.0f} ns | — |\n", median(alone));
  fmt::print("| two flows, neighbouring entries | {:.0f} ns | {:+.0f} ns |\n", median(neighbours),
             over(neighbours));
  fmt::print("| two flows, entries far apart | {:.0f} ns | {:+.0f} ns |\n", median(apart), over(apart));
  fmt::print("| one flow on both CPUs | {:.0f} ns | {:+.0f} ns |\n\n", median(shared), over(shared));
}

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "podpath_bench_datapath: run as root (loads BPF programs)\n");
    return 2;
  }
  int rounds = 5;
  bool quick = false;
  bool parts = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--parts") {
      parts = true;
    } else if (!a.empty() && a.find_first_not_of("0123456789") == std::string::npos && std::stoi(a) > 0) {
      rounds = std::stoi(a);
    } else {
      std::fprintf(stderr, "usage: podpath_bench_datapath [rounds] [--quick] [--parts]\n");
      return 2;
    }
  }
  empty_tc* empty = empty_tc__open_and_load();
  if (empty == nullptr) die("cannot load the empty baseline program");
  const int empty_fd = bpf_program__fd(empty->progs.pp_tc_bench_empty);
  const int empty_random_fd = bpf_program__fd(empty->progs.pp_tc_bench_empty_random);
  const auto f4 = tcp4(43512, 5432);
  const auto f6 = udp6();

  fmt::print("## Per-packet cost (BPF_PROG_TEST_RUN, {} rounds)\n\n", rounds);
  fmt::print(
      "Frames: IPv4 TCP {} B, IPv6 UDP {} B. Each round measures the empty TC program, then every case; "
      "\"over empty\" is the median over rounds of (case - empty program of the same round). Existing flows: "
      "repeat {} on one frame. New flows: the program loaded with its ports randomised per run "
      "(one bpf_get_prandom_u32 call, which podpath makes only in benchmarks), so every run inserts a flow "
      "(and wakes the reader at most once per CPU per 5 ms), compared with an empty program that makes the "
      "same call; in "
      "bursts of {} drained by a reader as `podpath trace` does; at the default map size ({} entries, "
      "filled to 50 000) unless said otherwise. Pod ingress: two LPM lookups and the CIDR matrix.\n\n",
      f4.size(), f6.size(), kRepeat, kBurst, kDefaultMaxFlows);

  if (parts) parts_report(rounds, empty_fd, f4, f6);
  for (FlowMapKind kind : {FlowMapKind::Hash, FlowMapKind::LruHash}) {
    if (quick && kind != FlowMapKind::Hash) continue;
    DatapathOptions o;
    o.flow_map = kind;
    auto dp = load(o);
    const int prog = (*dp->programs_for(0)).ingress;
    ns_per_packet(prog, f4, 1);  // the flows now exist
    ns_per_packet(prog, f6, 1);
    std::vector<Case> cases = {
        {"existing IPv4 TCP flow", "≤ +40 ns", [&] { return ns_per_packet(prog, f4, kRepeat); }, {}, {}},
        {"existing IPv6 UDP flow", "≤ +40 ns", [&] { return ns_per_packet(prog, f6, kRepeat); }, {}, {}},
        {"new flow", "≤ +250 ns", [&] { return new_flow_ns({.kind = kind}, f4); }, {}, {}},
        {"new flow at a pod veth ingress",
         "≤ +300 ns",
         [&] { return new_flow_ns({.kind = kind, .pod_ingress = true}, f4); },
         {},
         {}},
        {"new flow, events off",
         "",
         [&] { return new_flow_ns({.kind = kind, .events = false}, f4); },
         {},
         {}},
    };
    if (kind == FlowMapKind::Hash && !quick) {
      // Following NAT costs a new flow at an egress point one look at skb->_nfct (test-run
      // skbs have no conntrack entry: a translated flow's reads and insert are not in here);
      // existing flows pay nothing (docs/services.md).
      cases.push_back({"new flow at an egress point, NAT off",
                       "",
                       [&] { return new_flow_ns({.kind = kind, .egress = true}, f4); },
                       {},
                       {}});
      cases.push_back({"new flow at an egress point, NAT on (no conntrack entry)",
                       "",
                       [&] { return new_flow_ns({.kind = kind, .egress = true, .nat = true}, f4); },
                       {},
                       {}});
      cases.push_back(
          {"new flow, map of 1 048 576 entries (filled to 100 000)",
           "",
           [&] { return new_flow_ns({.kind = kind, .max_flows = kLargeMaxFlows, .flows = 100'000}, f4); },
           {},
           {}});
    }
    if (kind == FlowMapKind::Hash) {
      cases.push_back({"untracked flow, map full, pod ingress", "", [&] { return map_full_ns(f4); }, {}, {}});
    }
    // Every case after the two existing-flow ones loads the program with random ports.
    for (std::size_t i = 2; i < cases.size(); ++i) cases[i].random_ports = true;
    std::vector<double> draw;  // what the random draw adds to the empty program, per round
    for (int r = 0; r < rounds; ++r) {
      // The round's baselines: the empty programs at both ends of the round.
      const double e = ns_per_packet(empty_fd, f4, kRepeat);
      const double er = ns_per_packet(empty_random_fd, f4, kRepeat);
      for (auto& c : cases) c.ns.push_back(c.measure());
      const double e2 = ns_per_packet(empty_fd, f4, kRepeat);
      const double er2 = ns_per_packet(empty_random_fd, f4, kRepeat);
      for (auto& c : cases) c.over.push_back(c.ns.back() - (c.random_ports ? (er + er2) / 2 : (e + e2) / 2));
      draw.push_back((er + er2 - e - e2) / 2);
      std::fprintf(stderr,
                   "bench: %s round %d/%d: empty program %.0f / %.0f ns, with a random draw %.0f / %.0f ns\n",
                   kind_name(kind), r + 1, rounds, e, e2, er, er2);
    }
    fmt::print("### {}\n\n| case | tc_flow (median) | over the empty program (median per round) | target |\n"
               "|---|---|---|---|\n",
               kind_name(kind));
    for (const auto& c : cases) {
      fmt::print("| {} | {:.0f} ns | {:+.0f} ns | {} |\n", c.name, median(c.ns), median(c.over),
                 c.target.empty() ? "—" : c.target);
    }
    fmt::print(
        "\nThe random draw of the new-flow rows (in their baseline, not in their figure): {:+.0f} ns.\n\n",
        median(draw));
  }

  if (quick) {
    empty_tc__destroy(empty);
    return 0;
  }
  fmt::print("## Map memory per tracked flow (kernel's memlock accounting of the flows maps)\n\n");
  fmt::print("| flows map | IPv4 entry (pp_flows4) | IPv6 entry (pp_flows) |\n|---|---|---|\n");
  for (FlowMapKind kind : {FlowMapKind::Hash, FlowMapKind::LruHash}) {
    DatapathOptions a, b;
    a.flow_map = b.flow_map = kind;
    a.max_flows = 65536;
    b.max_flows = 131072;
    auto da = load(a);
    auto db = load(b);
    const auto per = [&](int fa, int fb) {
      return static_cast<double>(map_memlock(fb) - map_memlock(fa)) / (b.max_flows - a.max_flows);
    };
    fmt::print("| {} | {:.0f} B | {:.0f} B |\n", kind_name(kind),
               per(da->flows4_map_fd(), db->flows4_map_fd()), per(da->flows_map_fd(), db->flows_map_fd()));
  }
  ct_lookup_report(rounds, empty_fd, tcp4(43512));
  sharing_report(rounds);
  empty_tc__destroy(empty);
  return 0;
}

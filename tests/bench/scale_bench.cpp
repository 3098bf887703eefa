// Userspace at scale: one refresh of N flows-map entries, read and aggregated, next to the
// kernel's batch lookup of the same entries (the floor); a `podpath trace --output json
// --limit 10` cycle's CPU at a 1 s interval; userspace memory per entry and the kernel's
// map memory. Prints a Markdown table, one row per N. Needs root.
//
// The entries are made by the real tc_flow program under BPF_PROG_TEST_RUN: one frame per
// flow (distinct ports), so every entry is a flow of its own at one observation point (the
// most conversations per entry: the worst case for userspace). "Busy" refreshes follow a
// pass that sends every flow one more packet (not timed); "idle" ones a map left alone.
// Each row runs in a child process of its own, so its memory is measured from a clean start.
//
// Every entry count is measured four ways, each in its own child: "full" reads every entry at
// every refresh with batch lookups (podpath before changed-entries reads); "batch" reads with
// batch lookups but aggregates only the entries that changed; "iterator" walks the maps with the
// BPF map-element iterator, which hands over only the changed entries; "log" (podpath's default)
// looks up only the keys the programs logged to the change log (pp_changed), and walks with the
// iterator when the log lost records or holds too many keys. The first three run with the
// change log off. All but full read every entry once per Aggregator full_read_every (60)
// refreshes: their idle CPU is the mean over such a cycle, the full read included; their idle
// refresh is the median, a changed-entries one. "1 %" and "10 %" refreshes follow a pass that
// sends every 100th / 10th flow one more packet.
//
// Usage: podpath_bench_scale [--refreshes R] [--data FILE] [--mode full|batch|iterator|log|log-per-key]...
// N...
// --data also writes the rows as tab-separated numbers, for the plot (scripts/bench scale).
// --mode measures only the ways named (default: all but log-per-key, the change log with a lookup
// syscall per key as on kernels without syscall programs).
#include <bpf/bpf.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bench_util.hpp"
#include "bpf/datapath.hpp"
#include "flows/path.hpp"
#include "inventory/cidrs.hpp"
#include "inventory/resolver.hpp"
#include "loader/bpf_flow_source.hpp"
#include "output/filter.hpp"
#include "output/flow_json.hpp"
#include "output/flow_table.hpp"

using namespace podpath;
using bench::median;

namespace {

/// How a row reads the flows maps.
enum class Mode : std::uint8_t {
  Full,       ///< batch lookups, every entry aggregated at every refresh (before)
  Batch,      ///< batch lookups, only changed entries aggregated
  Iterator,   ///< BPF map iterator: only changed entries leave the kernel
  Log,        ///< the change log: only logged keys are looked up, in batches (podpath's default)
  LogPerKey,  ///< the change log, a lookup syscall per key (kernels before 5.17)
};

bool is_log(Mode m) { return m == Mode::Log || m == Mode::LogPerKey; }

const char* mode_name(Mode m) {
  switch (m) {
  case Mode::Full:
    return "full (batch, every entry)";
  case Mode::Batch:
    return "batch, changed";
  case Mode::Iterator:
    return "iterator, changed";
  case Mode::Log:
    return "change log";
  case Mode::LogPerKey:
    return "change log, a syscall per key";
  }
  return "?";
}

/// What one row measured (plain data: it crosses a pipe from the child).
struct Row {
  std::uint64_t entries = 0;
  Mode mode = Mode::Iterator;
  bool iterator_used = false;   ///< the datapath read with the iterator (else it fell back)
  double lookup_ms = 0;         ///< the kernel's batch lookup of every entry, 1024 a call
  double lookup8k_ms = 0;       ///< the same, 8192 entries a call
  double lookup16k_ms = 0;      ///< the same, 16384 entries a call
  double walk_ms = 0;           ///< iterator: the kernel's walk when nothing changed (median)
  double iter_all_ms = 0;       ///< iterator: every entry read and converted (median)
  double first_ms = 0;          ///< the first refresh: every entry new
  double idle_ms = 0;           ///< a refresh with no counter changed (median)
  double busy_ms = 0;           ///< a refresh with every counter changed (median)
  double changed1_ms = 0;       ///< a refresh with 1 % of the entries changed (median)
  double changed10_ms = 0;      ///< a refresh with 10 % of the entries changed (median)
  double log_mb = 0;            ///< the change log's size (log mode; kernel memory)
  double render_ms = 0;         ///< select the top 10, describe them, JSON (median)
  double cycle_cpu_idle = 0;    ///< CPU ms of one refresh + render, idle map (mean over a cycle)
  double cycle_cpu_busy = 0;    ///< the same, every counter changed (median)
  double rss_mb = 0;            ///< the process's resident memory at the end
  double rss_per_entry = 0;     ///< its growth per entry, from before the first refresh
  double kernel_mb = 0;         ///< both flows maps' memlock (IPv4 and IPv6, each --max-flows)
  double kernel_per_entry = 0;  ///< the IPv4 map's memlock per entry it can hold
  std::uint64_t max_flows = 0;
};

double rss_bytes() {
  std::ifstream in("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "podpath_bench_scale: %s\n", what.c_str());
  std::exit(1);
}

/// Sends one TCP segment of each of flows [0, n) (every `stride`th) through the program: flow
/// i has source port 1024 + i % 64000 and destination port 1 + i / 64000.
void send_flows(int prog, std::uint64_t n, std::uint64_t stride = 1) {
  auto frame = bench::tcp4(1024, 1);
  constexpr std::size_t kSport = 14 + 20, kDport = kSport + 2;  // Ethernet + IPv4 header
  for (std::uint64_t i = 0; i < n; i += stride) {
    const auto sport = static_cast<std::uint16_t>(1024 + i % 64000);
    const auto dport = static_cast<std::uint16_t>(1 + i / 64000);
    frame[kSport] = static_cast<std::uint8_t>(sport >> 8);
    frame[kSport + 1] = static_cast<std::uint8_t>(sport);
    frame[kDport] = static_cast<std::uint8_t>(dport >> 8);
    frame[kDport + 1] = static_cast<std::uint8_t>(dport);
    if (auto r = bpf::test_run(prog, frame, 1); !r) die(r.error().to_string());
  }
}

/// The kernel's part of a read: batch lookups of every entry into one reused buffer.
double batch_lookup_ms(int fd, std::uint32_t batch) {
  bpf_map_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) die("cannot read the flows map's info");
  std::vector<std::uint8_t> keys(std::size_t{batch} * info.key_size),
      values(std::size_t{batch} * info.value_size);
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t in = 0, out = 0;
  bool first = true;
  for (;;) {
    std::uint32_t count = batch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int err =
        bpf_map_lookup_batch(fd, first ? nullptr : &in, &out, keys.data(), values.data(), &count, &opts);
    if (err != 0 && errno != ENOENT) die("batch lookup failed");
    if (err != 0) break;
    in = out;
    first = false;
  }
  return ms_since(t0);
}

/// The datapath's own read (iterator or batch lookups, converted to records, none kept) of
/// the entries changed since `since_ns`.
double datapath_read_ms(const bpf::Datapath& dp, std::uint64_t since_ns) {
  const auto t0 = std::chrono::steady_clock::now();
  if (auto r = dp.read_flows([](std::span<const model::FlowRecord>) {}, since_ns); !r) die("read failed");
  return ms_since(t0);
}

Row measure(std::uint64_t n, int refreshes, Mode mode) {
  Row row;
  row.entries = n;
  row.mode = mode;
  bpf::DatapathOptions o;
  // Room above the aggregator's high-water mark (90 %): nothing is evicted here.
  o.max_flows = static_cast<std::uint32_t>(std::max<std::uint64_t>(1024, n + n / 4));
  o.events = false;
  o.map_iterator = mode == Mode::Iterator || is_log(mode);
  o.change_log = is_log(mode);
  o.batch_lookup = mode == Mode::Log;
  row.max_flows = o.max_flows;
  if (is_log(mode)) row.log_mb = static_cast<double>(bpf::change_log_size(o)) / 1e6;
  auto dp = bpf::Datapath::load(o);
  if (!dp) die(dp.error().to_string());
  row.iterator_used = (*dp)->reads_changed_in_kernel();
  if (mode == Mode::Iterator && !row.iterator_used) die("no map iterator on this kernel");
  if (is_log(mode) && !(*dp)->has_change_log()) die("no change log");
  if (mode == Mode::Log && !(*dp)->has_batch_lookup()) fmt::print(stderr, "no batch lookup on this kernel\n");
  const auto progs = (*dp)->programs_for(0);
  if (!progs) die(progs.error().to_string());
  send_flows(progs->ingress, n);
  const auto counters = (*dp)->read_counters();
  if (!counters || (*counters)[bpf::FlowCounter::NewFlows] != n) die("the flows were not all created");

  // What `podpath trace` resolves against: an empty inventory (every address external).
  model::Cluster cluster;
  auto cidrs = inventory::CidrTable::build(cluster);
  if (!cidrs) die(cidrs.error().to_string());
  const inventory::Resolver resolver(std::make_shared<const model::Cluster>(cluster), *cidrs);
  const flows::Topology topology;
  const output::FlowFilter filter;

  const double rss0 = rss_bytes();
  loader::BpfFlowSource source(**dp);
  flows::AggregatorOptions ao;
  ao.idle_timeout_ns = 3600 * 1'000'000'000ULL;  // a cycle of 60 idle refreshes expires nothing
  if (mode == Mode::Full) ao.full_read_every = 1;
  flows::Aggregator aggregator(source, ao);
  std::uint64_t now = 1'000'000'000;
  const auto refresh = [&] {
    now += 1'000'000'000;
    const auto t0 = std::chrono::steady_clock::now();
    auto s = aggregator.update(now);
    if (!s) die("refresh failed: " + s.error().to_string());
    if (aggregator.entries() != n) {
      die(fmt::format("refresh saw {} entries of {} (read {}, full {}, new {}, expired {})",
                      aggregator.entries(), n, s->records, s->full_read, s->new_flows, s->expired));
    }
    return ms_since(t0);
  };
  const auto render = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    const auto views =
        output::select_views(aggregator, resolver, topology, filter, output::SortKey::Rate, 10);
    // What `trace --output json` adds to a refresh (output::trace_snapshot_text, the session's
    // parts aside).
    std::string text;
    output::JsonWriter w(text);
    w.begin_object();
    w.key("conversations").document(output::selection_to_json(views));
    w.key("flows");
    output::write_flows(w, views.views);
    w.end_object();
    if (views.views.size() != std::min<std::uint64_t>(10, n) || text.empty()) die("render failed");
    return ms_since(t0);
  };

  row.first_ms = refresh();
  // Kernel reads alone, before the refreshes (they do not move the source's read marker).
  std::vector<double> lookup, lookup8k, lookup16k, walk, iter_all;
  for (int r = 0; r < refreshes; ++r) {
    lookup.push_back(batch_lookup_ms((*dp)->flows4_map_fd(), 1024));
    lookup8k.push_back(batch_lookup_ms((*dp)->flows4_map_fd(), 8192));
    lookup16k.push_back(batch_lookup_ms((*dp)->flows4_map_fd(), 16384));
    if (mode == Mode::Iterator) {
      walk.push_back(datapath_read_ms(**dp, bpf::Datapath::flow_clock_ns()));
      iter_all.push_back(datapath_read_ms(**dp, 0));
    }
  }
  // Idle: a whole cycle of full_read_every refreshes (the full read included) where the
  // aggregator reads changed entries; else `refreshes` of them.
  const int idle_refreshes = mode == Mode::Full ? refreshes : static_cast<int>(ao.full_read_every);
  std::vector<double> idle, draw, busy, cpu_busy, changed1, changed10;
  double cpu_idle_total = 0;
  for (int r = 0; r < idle_refreshes; ++r) {
    const double c0 = cpu_ms();
    idle.push_back(refresh());
    draw.push_back(render());
    cpu_idle_total += cpu_ms() - c0;
  }
  // A quiet refresh between the passes: each timed one then reads one pass's changes only.
  for (int r = 0; r < refreshes; ++r) {
    send_flows(progs->ingress, n, 100);
    changed1.push_back(refresh());
    (void)refresh();
    send_flows(progs->ingress, n, 10);
    changed10.push_back(refresh());
    (void)refresh();
  }
  for (int r = 0; r < refreshes; ++r) {
    send_flows(progs->ingress, n);
    const double c0 = cpu_ms();
    busy.push_back(refresh());
    (void)render();
    cpu_busy.push_back(cpu_ms() - c0);
  }
  row.lookup_ms = median(lookup);
  row.lookup8k_ms = median(lookup8k);
  row.lookup16k_ms = median(lookup16k);
  if (!walk.empty()) row.walk_ms = median(walk);
  if (!iter_all.empty()) row.iter_all_ms = median(iter_all);
  row.idle_ms = median(idle);
  row.busy_ms = median(busy);
  row.changed1_ms = median(changed1);
  row.changed10_ms = median(changed10);
  row.render_ms = median(draw);
  row.cycle_cpu_idle = cpu_idle_total / idle_refreshes;
  row.cycle_cpu_busy = median(cpu_busy);
  const double rss1 = rss_bytes();
  row.rss_mb = rss1 / 1e6;
  row.rss_per_entry = (rss1 - rss0) / static_cast<double>(n);
  // IPv4 entries live in pp_flows4; pp_flows (IPv6) is allocated at the same size beside it.
  const auto memlock4 = static_cast<double>(bench::map_memlock((*dp)->flows4_map_fd()));
  const auto memlock6 = static_cast<double>(bench::map_memlock((*dp)->flows_map_fd()));
  row.kernel_mb = (memlock4 + memlock6) / 1e6;
  row.kernel_per_entry = memlock4 / static_cast<double>(o.max_flows);
  return row;
}

/// Runs measure(n) in a child: every row starts with a fresh heap.
Row measure_in_child(std::uint64_t n, int refreshes, Mode mode) {
  int fds[2];
  if (pipe(fds) != 0) die("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) die("fork failed");
  if (pid == 0) {
    close(fds[0]);
    const Row row = measure(n, refreshes, mode);
    const bool ok = write(fds[1], &row, sizeof(row)) == static_cast<ssize_t>(sizeof(row));
    _exit(ok ? 0 : 1);
  }
  close(fds[1]);
  Row row;
  const bool got = read(fds[0], &row, sizeof(row)) == static_cast<ssize_t>(sizeof(row));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die(fmt::format("the {}-entry row ({}) failed", n, mode_name(mode)));
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) die("run as root (loads BPF programs)");
  int refreshes = 5;
  std::string data_file;
  std::vector<std::uint64_t> rows;
  std::vector<Mode> modes;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--refreshes" && i + 1 < argc) {
      refreshes = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--data" && i + 1 < argc) {
      data_file = argv[++i];
    } else if (a == "--mode" && i + 1 < argc) {
      const std::string m = argv[++i];
      if (m == "full") {
        modes.push_back(Mode::Full);
      } else if (m == "batch") {
        modes.push_back(Mode::Batch);
      } else if (m == "iterator") {
        modes.push_back(Mode::Iterator);
      } else if (m == "log") {
        modes.push_back(Mode::Log);
      } else if (m == "log-per-key") {
        modes.push_back(Mode::LogPerKey);
      } else {
        die("--mode takes full, batch, iterator, log or log-per-key");
      }
    } else if (std::atoll(a.c_str()) > 0) {
      rows.push_back(static_cast<std::uint64_t>(std::atoll(a.c_str())));
    } else {
      die("usage: podpath_bench_scale [--refreshes R] [--data FILE] [--mode "
          "full|batch|iterator|log|log-per-key]... "
          "N...");
    }
  }
  if (rows.empty()) rows = {1'000, 10'000, 100'000, 1'000'000};
  if (modes.empty()) modes = {Mode::Full, Mode::Batch, Mode::Iterator, Mode::Log};

  fmt::print(
      "| entries | read | refresh, first | refresh, idle | refresh, 1 % changed | refresh, 10 % changed | "
      "refresh, busy | top 10 + JSON | "
      "CPU per s, idle (1 s interval) | CPU per s, busy | RSS | userspace per entry | "
      "kernel flows maps (IPv4 + IPv6, --max-flows each) |\n");
  fmt::print("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  std::ofstream data;
  if (!data_file.empty()) {
    data.open(data_file);
    data << "# entries\tmode\tlookup_ms\tidle_ms\tbusy_ms\tcpu_idle_ms\tcpu_busy_ms\trss_mb\tkernel_mb\t"
            "rss_per_entry_b\twalk_ms\titer_all_ms\tlookup8k_ms\tlookup16k_ms\tchanged1_ms\tchanged10_ms\n";
  }
  std::vector<Row> done;
  for (const std::uint64_t n : rows) {
    for (const Mode mode : modes) {
      const Row r = measure_in_child(n, refreshes, mode);
      done.push_back(r);
      const double per = 1e6 / static_cast<double>(n);  // ms -> ns per entry
      fmt::print(
          "| {} | {} | {:.1f} ms | {:.2f} ms ({:.0f} ns/entry) | {:.2f} ms | {:.2f} ms | {:.2f} ms ({:.0f} "
          "ns/entry) | {:.2f} ms | "
          "{:.1f} ms ({:.2f} %) | {:.1f} ms ({:.2f} %) | {:.1f} MB | {:.0f} B | {:.1f} MB ({} each; IPv4 "
          "{:.0f} B/entry){} |\n",
          r.entries, mode_name(r.mode), r.first_ms, r.idle_ms, r.idle_ms * per, r.changed1_ms, r.changed10_ms,
          r.busy_ms, r.busy_ms * per, r.render_ms, r.cycle_cpu_idle, r.cycle_cpu_idle / 10, r.cycle_cpu_busy,
          r.cycle_cpu_busy / 10, r.rss_mb, r.rss_per_entry, r.kernel_mb, r.max_flows, r.kernel_per_entry,
          r.log_mb > 0 ? fmt::format(" + change log {:.1f} MB", r.log_mb) : std::string());
      std::fflush(stdout);
      if (data.is_open()) {
        data << r.entries << '\t' << static_cast<int>(r.mode) << '\t' << r.lookup_ms << '\t' << r.idle_ms
             << '\t' << r.busy_ms << '\t' << r.cycle_cpu_idle << '\t' << r.cycle_cpu_busy << '\t' << r.rss_mb
             << '\t' << r.kernel_mb << '\t' << r.rss_per_entry << '\t' << r.walk_ms << '\t' << r.iter_all_ms
             << '\t' << r.lookup8k_ms << '\t' << r.lookup16k_ms << '\t' << r.changed1_ms << '\t'
             << r.changed10_ms << '\n';
        data.flush();
      }
      std::fprintf(stderr, "podpath_bench_scale: %llu entries, %s done\n", static_cast<unsigned long long>(n),
                   mode_name(mode));
    }
  }
  // The kernel's part alone: what each way of reading costs before userspace does anything.
  fmt::print(
      "\n| entries | batch lookup, 1024 a call | 8192 a call | 16384 a call | iterator, nothing changed "
      "(the walk) | iterator, every entry |\n");
  fmt::print("|---|---|---|---|---|---|\n");
  for (const Row& r : done) {
    if (r.mode != Mode::Iterator) continue;
    const double per = 1e6 / static_cast<double>(r.entries);
    fmt::print(
        "| {} | {:.2f} ms ({:.0f} ns/entry) | {:.2f} ms ({:.0f} ns/entry) | {:.2f} ms ({:.0f} ns/entry) | "
        "{:.2f} ms ({:.0f} ns/entry) | {:.2f} ms ({:.0f} ns/entry) |\n",
        r.entries, r.lookup_ms, r.lookup_ms * per, r.lookup8k_ms, r.lookup8k_ms * per, r.lookup16k_ms,
        r.lookup16k_ms * per, r.walk_ms, r.walk_ms * per, r.iter_all_ms, r.iter_all_ms * per);
  }
  return 0;
}

// `podpath debug dump`: the raw BPF maps, for developers and bug reports.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <ostream>

#include "bpf/datapath.hpp"
#include "cli/command.hpp"
#include "cli/live.hpp"
#include "output/text.hpp"

namespace podpath::cli {
namespace {

class DebugCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand("debug", "Developer tools: raw kernel maps (debug dump)");
    sub->require_subcommand(1);
    dump_ = sub->add_subcommand(
        "dump", "Attach like trace, observe for --duration seconds, then print the raw kernel maps.\n"
                "The maps: "
                "attached interfaces, every flows-map entry (namespace cookie, ifindex, direction,\n"
                "key, counters, CIDR ids), the CIDR matrix cells and every health counter.");
    attach_.add_to(*dump_);
    dump_->add_option("--duration", duration_s_, "Seconds to observe")
        ->check(CLI::Range(0.0, 1e7))
        ->capture_default_str();
    add_ready_file_option(*dump_, ready_file_);
    return sub;
  }

  int run(Io& io) override {
    const StopOnSignal stop;
    auto session = start_session(attach_);
    write_ready_file(ready_file_, session->loader().describe());
    observe_for(*session, duration_s_, stop);
    auto& dp = session->loader().datapath();
    io.out << "# attached: " << session->loader().describe() << "\n";
    for (const auto& i : session->loader().interfaces()) {
      io.out << fmt::format("iface node={} netns={} cookie={} ifindex={} name={} role={} pod={}\n", i.node,
                            i.netns.empty() ? "-" : i.netns, i.netns_cookie, i.ifindex, i.name,
                            model::to_string(i.role), i.pod.empty() ? "-" : i.pod);
    }
    auto flows = dp.read_flows();
    if (!flows) throw UserError(flows.error().to_string());
    io.out << "# flows: " << flows->size() << " entries\n";
    for (const auto& f : *flows) {
      io.out << fmt::format(
          "flow cookie={} ifindex={} dir={} {} {}:{} -> {}:{}{} packets={} bytes={} tcp_flags={:#04x} "
          "cidr={}->{} matrix={} first={} last={}\n",
          f.point.netns_cookie, f.point.ifindex,
          f.point.direction == model::Direction::Egress ? "egress" : "ingress",
          model::protocol_name(f.key.proto), f.key.src.to_string(), f.key.sport, f.key.dst.to_string(),
          f.key.dport, f.key.fragment ? " fragment" : "", f.stats.packets, f.stats.bytes, f.stats.tcp_flags,
          f.stats.src_cidr, f.stats.dst_cidr, f.stats.in_matrix ? 1 : 0, f.stats.first_seen_ns,
          f.stats.last_seen_ns);
    }
    auto matrix = dp.read_matrix();
    if (!matrix) throw UserError(matrix.error().to_string());
    io.out << "# matrix: " << matrix->size() << " cells\n";
    for (const auto& c : *matrix) {
      io.out << fmt::format("matrix {} -> {} packets={} bytes={}\n", c.src_cidr, c.dst_cidr, c.packets,
                            c.bytes);
    }
    auto counters = dp.read_counters();
    if (!counters) throw UserError(counters.error().to_string());
    io.out << "# counters\n";
    for (const auto c : bpf::FlowCounters::all())
      io.out << "counter " << bpf::counter_name(c) << "=" << (*counters)[c] << "\n";
    if (auto r = session->stop(); !r) {
      io.err << "podpath debug dump: " << r.error().to_string() << "\n";
      return kExitError;
    }
    return kExitOk;
  }

 private:
  CLI::App* dump_ = nullptr;
  AttachFlags attach_;
  double duration_s_ = 2;
  std::string ready_file_;
};

}  // namespace

std::unique_ptr<Command> make_debug_command() { return std::make_unique<DebugCommand>(); }

}  // namespace podpath::cli

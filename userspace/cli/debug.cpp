// `podpath debug dump`: the raw BPF maps, for developers and bug reports.
#include <CLI/CLI.hpp>

#include <ostream>

#include "cli/command.hpp"
#include "cli/live.hpp"
#include "output/session_view.hpp"
#include "util/text.hpp"

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
    attach_.add_to(*dump_, /*with_node=*/true);
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
    const auto& dp = session->loader().datapath();
    auto flows = dp.read_flows();
    if (!flows) throw UserError(flows.error().to_string());
    auto matrix = dp.read_matrix();
    if (!matrix) throw UserError(matrix.error().to_string());
    auto counters = dp.read_counters();
    if (!counters) throw UserError(counters.error().to_string());
    io.out << output::render_dump(session->loader(), *flows, *matrix, *counters);
    if (auto r = session->stop(); !r) {
      io.err << "podpath debug dump: " << printable(r.error().to_string()) << "\n";
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

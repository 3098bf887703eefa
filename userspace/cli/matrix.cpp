// `podpath matrix`: packets and bytes per (source CIDR, destination CIDR).
#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/cluster_flags.hpp"
#include "cli/command.hpp"
#include "cli/live.hpp"
#include "output/stats_view.hpp"
#include "output/terminal.hpp"
#include "util/text.hpp"

namespace podpath::cli {
namespace {

class MatrixCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand(
        "matrix",
        "Count packets and bytes per (source CIDR, destination CIDR) for --duration seconds.\n"
        "CIDRs: each node's pod CIDR, the underlay, the service CIDR, docker0, other. Every packet is "
        "counted once, where\n"
        "it enters the observed network: when it leaves a pod (its veth), or when it arrives over an uplink\n"
        "from a CIDR whose pods podpath does not watch.");
    attach_.add_to(*sub, /*with_node=*/true);
    sub->add_option("--duration", duration_s_, "Seconds to count (Ctrl-C prints early)")
        ->check(CLI::Range(0.1, 1e7))
        ->capture_default_str();
    add_output_option(*sub, format_);
    add_ready_file_option(*sub, ready_file_);
    cluster_.add_to(*sub);
    return sub;
  }

  int run(Io& io) override {
    if (cluster_.enabled) {
      return run_cluster_matrix(cluster_.options(attach_.cluster), duration_s_, format_ == "json",
                                ready_file_, io);
    }
    const StopOnSignal stop;
    auto session = start_session(attach_);
    write_ready_file(ready_file_, session->loader().describe());
    observe_for(*session, duration_s_, stop);
    if (auto r = session->refresh(); !r) throw UserError(r.error().to_string());
    const auto rows = output::matrix_rows(session->matrix(), session->cidrs());
    if (format_ == "json") {
      io.out << json_text({{"matrix", output::matrix_to_json(rows)},
                           {"health", output::health_to_json(session->counters())}},
                          2)
             << "\n";
    } else {
      const bool color = output::use_color(io.out);
      io.out << output::render_matrix(rows, color) << output::render_health(session->counters(), color);
    }
    if (auto r = session->stop(); !r) {
      io.err << "podpath matrix: " << printable(r.error().to_string()) << "\n";
      return kExitError;
    }
    return kExitOk;
  }

 private:
  AttachFlags attach_;
  double duration_s_ = 5;
  std::string format_ = "table";
  std::string ready_file_;
  ClusterViewFlags cluster_;
};

}  // namespace

std::unique_ptr<Command> make_matrix_command() { return std::make_unique<MatrixCommand>(); }

}  // namespace podpath::cli

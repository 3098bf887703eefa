// `podpath trace`: live pod-to-pod flows with the routed path of each, hop by hop.
#include <CLI/CLI.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <ostream>

#include "cli/command.hpp"
#include "cli/live.hpp"
#include "output/flow_table.hpp"
#include "output/session_view.hpp"
#include "output/terminal.hpp"

namespace podpath::cli {
namespace {

std::string clock_text() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return fmt::format("{:%H:%M:%S}", tm);
}

class TraceCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand(
        "trace",
        "Watch pod-to-pod flows live, each with its routed path, hop by hop.\n"
        "Every flow shows the path it is routed along: pod veth -> cbr0 -> eth0 -> gateway -> node ->\n"
        "cbr0 -> veth -> pod, every hop with the route that sent the packet there.\n"
        "Attaches to the pod bridge, every pod veth and the uplink of each node (in a lab: every node's\n"
        "network namespace; on a node: the host's), follows pods that come and go, and detaches on exit.\n"
        "Refreshes every second; without a terminal it prints plain snapshots; --output json streams\n"
        "one JSON object per refresh (NDJSON, schema in docs/paths.md).");
    attach_.add_to(*sub);
    filter_.add_to(*sub);
    sub->add_option("--interval", interval_s_, "Seconds between refreshes")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    auto* duration =
        sub->add_option("--duration", duration_s_, "Stop after this many seconds (default: until Ctrl-C)")
            ->check(CLI::Range(0.1, 1e7));
    sub->add_flag("--once", once_, "Print one refresh and exit")->excludes(duration);
    add_output_option(*sub, format_, "table or json (NDJSON: one object per refresh)");
    sub->add_option("--sort", sort_, "Order conversations by rate, packets or bytes (table and JSON)")
        ->check(CLI::IsMember({"rate", "packets", "bytes"}))
        ->capture_default_str();
    sub->add_option("--limit", limit_,
                    "Show at most this many conversations, the busiest in --sort order (0 = all); applies to "
                    "--output json too")
        ->capture_default_str();
    sub->add_flag("--no-reply", no_reply_, "Hide the reply direction of each conversation");
    sub->add_flag("--no-containers", no_containers_,
                  "Do not attribute traffic to containers (skips the cgroup programs)");
    add_ready_file_option(*sub, ready_file_);
    return sub;
  }

  int run(Io& io) override {
    const auto filter = filter_.filter();
    const StopOnSignal stop;
    auto options = attach_.session_options();
    options.containers = !no_containers_;
    auto session = start_session(options);
    if (auto r = session->refresh(); !r) throw UserError(r.error().to_string());
    write_ready_file(ready_file_, session->loader().describe());

    const bool json = format_ == "json";
    const bool tty = !json && output::use_color(io.out);
    output::TableOptions table;
    table.color = tty;
    table.width = output::terminal_width(io.out);
    table.sort = sort_ == "packets" ? output::SortKey::Packets
                 : sort_ == "bytes" ? output::SortKey::Bytes
                                    : output::SortKey::Rate;
    table.limit = limit_;
    table.show_reverse = !no_reply_;

    const auto interval = std::chrono::milliseconds(static_cast<long>(interval_s_ * 1000));
    const auto started = std::chrono::steady_clock::now();
    const auto until = duration_s_ > 0
                           ? started + std::chrono::milliseconds(static_cast<long>(duration_s_ * 1000))
                           : std::chrono::steady_clock::time_point::max();
    while (!stop.flag().load()) {
      const auto now = std::chrono::steady_clock::now();
      const auto wait = std::min<std::chrono::steady_clock::duration>(interval, until - now);
      if (auto r = session->wait(std::chrono::duration_cast<std::chrono::milliseconds>(wait), stop.flag());
          !r) {
        throw UserError(r.error().to_string());
      }
      if (auto r = session->refresh(); !r) throw UserError(r.error().to_string());
      auto views = output::describe_session(*session, filter, table.sort, limit_);
      if (json) {
        io.out << output::trace_snapshot_json(*session, views, std::time(nullptr)).dump() << "\n";
      } else {
        io.out << output::render_trace(*session, std::move(views), table, tty, !filter.empty(), clock_text());
      }
      io.out.flush();
      if (once_ || std::chrono::steady_clock::now() >= until) break;
    }
    if (auto r = session->stop(); !r) {
      io.err << "podpath trace: " << r.error().to_string() << "\n";
      return kExitError;
    }
    return kExitOk;
  }

 private:
  AttachFlags attach_;
  FilterFlags filter_;
  double interval_s_ = 1.0;
  double duration_s_ = 0;
  bool once_ = false;
  std::string format_ = "table";
  std::string sort_ = "rate";
  std::size_t limit_ = 0;
  bool no_reply_ = false;
  bool no_containers_ = false;
  std::string ready_file_;
};

}  // namespace

std::unique_ptr<Command> make_trace_command() { return std::make_unique<TraceCommand>(); }

}  // namespace podpath::cli

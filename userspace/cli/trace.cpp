// `podpath trace`: live pod-to-pod flows with the routed path of each, hop by hop.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <ostream>

#include "cli/cluster_flags.hpp"
#include "cli/command.hpp"
#include "cli/live.hpp"
#include "cli/trace_tui.hpp"
#include "cli/trace_web.hpp"
#include "output/flow_table.hpp"
#include "output/session_view.hpp"
#include "output/terminal.hpp"
#include "util/text.hpp"

namespace podpath::cli {
namespace {

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
        "On a terminal it is a full-screen view, one line per conversation and the selected one hop by hop\n"
        "(keys: arrows or j/k select, Enter expands, / filters, s sorts, p pauses, r reply paths, ? help,\n"
        "q quits; docs/live-view.md). Without a terminal, with --plain, or with TERM=dumb it prints a plain\n"
        "snapshot every refresh; --output json streams one JSON object per refresh (NDJSON, schema in\n"
        "docs/paths.md). NO_COLOR turns colours off.");
    attach_.add_to(*sub);
    filter_.add_to(*sub);
    sub->add_option("--interval", interval_s_, "Seconds between refreshes")
        ->check(CLI::Range(0.1, 3600.0))
        ->capture_default_str();
    auto* duration =
        sub->add_option("--duration", duration_s_, "Stop after this many seconds (default: until Ctrl-C)")
            ->check(CLI::Range(0.1, 1e7));
    sub->add_flag("--once", once_, "Print one refresh and exit")->excludes(duration);
    sub->add_flag("--plain", plain_,
                  "Print plain snapshots, one after another, even on a terminal (no full-screen view)");
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
    web_.add_to(*sub);      // --web: the map in a browser (cli/trace_web.cpp)
    cluster_.add_to(*sub);  // --cluster: through the agents (cli/cluster_flags.cpp); shares --token-file
    return sub;
  }

  int run(Io& io) override {
    const auto filter = filter_.filter();
    web_.validate(cluster_.enabled);  // before anything is attached or read
    if (cluster_.enabled) return run_cluster(filter, io);
    const StopOnSignal stop;
    auto options = attach_.session_options(filter_.nodes);
    options.containers = !no_containers_;
    // An unknown pod, node or namespace is an error before anything is attached, not an
    // endless "no flows yet".
    options.check_cluster = [&](const model::Cluster& c) { return filter.check_names(c); };
    auto session = start_session(options);
    if (auto r = session->refresh(); !r) throw UserError(r.error().to_string());
    if (web_.enabled()) {
      run_trace_web(*session, web_, live_options(filter).interval, live_options(filter).until, ready_file_,
                    stop, io);
      return stop_session(io, *session);
    }
    write_ready_file(ready_file_, session->loader().describe());

    const bool json = format_ == "json";
    if (choose_trace_view(json, plain_, once_, output::is_interactive(io.out), std::getenv("TERM")) ==
        TraceView::Live) {
      auto terminal = TuiTerminal::open(!output::no_color_requested());
      if (terminal) {
        run_live_view(*session, std::move(*terminal), live_options(filter), stop, io);
        return stop_session(io, *session);
      }
      spdlog::warn("{}; printing plain snapshots", terminal.error().message);
    }
    const bool tty = !json && output::use_color(io.out);
    output::TableOptions table;
    table.color = tty;
    table.width = output::terminal_width(io.out);
    table.sort = sort_key();
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
        io.out << output::trace_snapshot_text(*session, views, std::time(nullptr)) << "\n";
      } else {
        io.out << output::render_trace(*session, std::move(views), table, tty, !filter.empty(), clock_text());
      }
      io.out.flush();
      if (once_ || std::chrono::steady_clock::now() >= until) break;
    }
    return stop_session(io, *session);
  }

 private:
  // --cluster: the agents' view as snapshots or NDJSON, or the map with --web (cli/cluster_commands.cpp).
  int run_cluster(const output::FlowFilter& filter, Io& io) const {
    ClusterTraceOptions o;
    o.filter = filter;
    o.filtered = !filter.empty();
    o.json = format_ == "json";
    o.tty = !o.json && !plain_ && output::use_color(io.out);
    o.table.color = o.tty;
    o.table.width = output::terminal_width(io.out);
    o.table.sort = sort_key();
    o.table.limit = limit_;
    o.table.show_reverse = !no_reply_;
    o.interval_s = interval_s_;
    o.duration_s = duration_s_;
    o.once = once_;
    o.ready_file = ready_file_;
    if (web_.enabled()) return run_cluster_web(cluster_.options(attach_.cluster), web_, o, io);
    return run_cluster_trace(cluster_.options(attach_.cluster), o, io);
  }

  static int stop_session(Io& io, loader::Session& session) {
    if (auto r = session.stop(); !r) {
      io.err << "podpath trace: " << printable(r.error().to_string()) << "\n";
      return kExitError;
    }
    return kExitOk;
  }

  [[nodiscard]] output::SortKey sort_key() const {
    return sort_ == "packets" ? output::SortKey::Packets
           : sort_ == "bytes" ? output::SortKey::Bytes
                              : output::SortKey::Rate;
  }

  [[nodiscard]] LiveViewOptions live_options(const output::FlowFilter& filter) const {
    LiveViewOptions o;
    o.interval = std::chrono::milliseconds(static_cast<long>(interval_s_ * 1000));
    if (duration_s_ > 0) {
      o.until =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(duration_s_ * 1000));
    }
    o.sort = sort_key();
    o.show_reply = !no_reply_;
    o.limit = limit_;
    o.filter = filter;
    o.filter_text = filter_.to_args();
    return o;
  }

  AttachFlags attach_;
  FilterFlags filter_;
  double interval_s_ = 1.0;
  double duration_s_ = 0;
  bool once_ = false;
  bool plain_ = false;
  std::string format_ = "table";
  std::string sort_ = "rate";
  std::size_t limit_ = 0;
  bool no_reply_ = false;
  bool no_containers_ = false;
  std::string ready_file_;
  ClusterViewFlags cluster_;
  WebFlags web_;
};

}  // namespace

std::unique_ptr<Command> make_trace_command() { return std::make_unique<TraceCommand>(); }

}  // namespace podpath::cli

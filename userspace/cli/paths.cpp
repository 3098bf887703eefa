// `podpath paths`: the hop-by-hop routed path of the flows that match.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/cluster_flags.hpp"
#include "cli/command.hpp"
#include "cli/live.hpp"
#include "output/filter.hpp"
#include "output/flow_json.hpp"
#include "output/flow_table.hpp"
#include "output/terminal.hpp"
#include "util/text.hpp"

namespace podpath::cli {
namespace {

class PathsCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand(
        "paths",
        "Show the hop-by-hop path of the flows that match, with the route behind each hop.\n"
        "Observes for --duration seconds, then prints every interface the packets crossed on every node,\n"
        "the gateway between nodes, the route that explains each hop, and hops that were expected but\n"
        "never saw the packets.\n"
        "  podpath paths                      every flow\n"
        "  podpath paths web-7d4b9-x2k4q      flows from or to a pod (or an IP)\n"
        "  podpath paths web-7d4b9-x2k4q db-0 flows between two pods/IPs, either direction");
    sub->add_option("endpoints", endpoints_, "Zero, one or two pods (name or namespace/name) or IP addresses")
        ->expected(0, 2);
    attach_.add_to(*sub);
    filter_.add_to(*sub);
    sub->add_option("--duration", duration_s_, "Seconds to observe before printing (Ctrl-C prints early)")
        ->check(CLI::Range(0.1, 1e7))
        ->capture_default_str();
    add_output_option(*sub, format_);
    add_ready_file_option(*sub, ready_file_);
    cluster_.add_to(*sub);
    return sub;
  }

  int run(Io& io) override {
    const auto filter = filter_.filter();
    if (cluster_.enabled) {
      return run_cluster_paths(cluster_.options(attach_.cluster), filter, endpoints_, duration_s_,
                               format_ == "json", ready_file_, io);
    }
    const StopOnSignal stop;
    auto options = attach_.session_options(filter_.nodes);
    // Bad names fail before anything is attached.
    options.check_cluster = [&](const model::Cluster& c) -> Result<void> {
      if (auto r = output::check_endpoints(c, endpoints_); !r) return r;
      return filter.check_names(c);
    };
    auto session = start_session(options);
    if (auto r = session->refresh(); !r) throw UserError(r.error().to_string());
    write_ready_file(ready_file_, session->loader().describe());
    observe_for(*session, duration_s_, stop);
    if (auto r = session->refresh(); !r) throw UserError(r.error().to_string());
    flows::SelectOptions select;
    select.keep = filter.keeper(session->resolver());
    auto views = output::describe(session->aggregator().select(select).conversations, session->resolver(),
                                  session->topology());
    std::erase_if(
        views, [&](const output::ConversationView& v) { return !output::between_endpoints(v, endpoints_); });

    if (format_ == "json") {
      io.out << output::flows_json_text(views, 2) << "\n";
    } else if (views.empty()) {
      io.out << "no matching flows seen in " << duration_s_ << " s\n";
    } else {
      output::TableOptions t;
      t.color = output::use_color(io.out);
      t.width = output::terminal_width(io.out);
      io.out << output::render_flow_table(std::move(views), t);
    }
    if (auto r = session->stop(); !r) {
      io.err << "podpath paths: " << printable(r.error().to_string()) << "\n";
      return kExitError;
    }
    return kExitOk;
  }

 private:
  AttachFlags attach_;
  FilterFlags filter_;
  std::vector<std::string> endpoints_;
  double duration_s_ = 5;
  std::string format_ = "table";
  std::string ready_file_;
  ClusterViewFlags cluster_;
};

}  // namespace

std::unique_ptr<Command> make_paths_command() { return std::make_unique<PathsCommand>(); }

}  // namespace podpath::cli

// `--cluster`: the cluster runs of trace, paths and matrix (the flags: cli/cluster_flags.cpp).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <ostream>
#include <thread>

#include "cli/cluster_flags.hpp"
#include "cli/trace_tui.hpp"
#include "output/flow_json.hpp"
#include "output/stats_view.hpp"
#include "output/terminal.hpp"
#include "output/text.hpp"
#include "util/text.hpp"

namespace podpath::cli {
namespace {

// Waits `seconds` unless a signal stops the command first; false when stopped.
bool wait_for(double seconds, const StopOnSignal& stop) {
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  while (!stop.flag().load()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return true;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(50)));
  }
  return false;
}

std::unique_ptr<cluster::ClusterView> open_view(const cluster::ClusterViewOptions& options) {
  auto view = cluster::ClusterView::open(options);
  if (!view) throw UserError(view.error().to_string());
  return std::move(*view);
}

std::string header(const std::string& command, const cluster::ClusterView& view, const output::Style& style) {
  std::string out = style.bold("podpath " + command + " --cluster") + " — " + printable(view.describe()) +
                    " · " + clock_text() + "\n";
  for (const auto& p : view.problems()) out += style.yellow("! " + printable(p)) + "\n";
  return out;
}

}  // namespace

int run_cluster_trace(const cluster::ClusterViewOptions& view_options, const ClusterTraceOptions& o, Io& io) {
  const StopOnSignal stop;
  auto view = open_view(view_options);
  write_ready_file(o.ready_file, view->describe());
  const auto started = std::chrono::steady_clock::now();
  while (!stop.flag().load()) {
    auto views = view->select(o.filter, o.table.sort, o.table.limit);
    if (o.json) {
      io.out << view->snapshot_text(views, std::time(nullptr)) << "\n";
    } else {
      const output::Style style(o.tty);
      std::string out = o.tty ? "\033[H\033[2J" : "";
      out += header("trace", *view, style);
      if (views.views.size() < views.total) {
        out +=
            style.dim(fmt::format("showing {} of {} conversations", views.views.size(), views.total)) + "\n";
      }
      out += views.views.empty()
                 ? std::string("no flows yet") + (o.filtered ? " matching the filters\n" : "\n")
                 : output::render_flow_table(std::move(views.views), o.table);
      if (!o.tty) out += "\n";
      io.out << out;
    }
    io.out.flush();
    if (o.once) break;
    if (o.duration_s > 0 && std::chrono::steady_clock::now() - started >=
                                std::chrono::milliseconds(static_cast<long>(o.duration_s * 1000)))
      break;
    if (!wait_for(o.interval_s, stop)) break;
    view->refresh();
  }
  return kExitOk;
}

int run_cluster_paths(const cluster::ClusterViewOptions& view_options, const output::FlowFilter& filter,
                      const std::vector<std::string>& endpoints, double duration_s, bool json,
                      const std::string& ready_file, Io& io) {
  const StopOnSignal stop;
  auto view = open_view(view_options);
  if (view_options.source) {
    if (auto r = output::check_endpoints(view->cluster(), endpoints); !r)
      throw UserError(r.error().to_string());
    if (auto r = filter.check_names(view->cluster()); !r) throw UserError(r.error().to_string());
  }
  write_ready_file(ready_file, view->describe());
  wait_for(duration_s, stop);
  view->refresh();
  auto selected = view->select(filter, output::SortKey::Rate, 0);
  auto views = std::move(selected.views);
  std::erase_if(views,
                [&](const output::ConversationView& v) { return !output::between_endpoints(v, endpoints); });
  if (json) {
    io.out << output::flows_json_text(views, 2) << "\n";
    return kExitOk;
  }
  const output::Style style(output::use_color(io.out));
  io.out << header("paths", *view, style);
  if (views.empty()) {
    io.out << "no matching flows seen in " << duration_s << " s\n";
  } else {
    output::TableOptions t;
    t.color = output::use_color(io.out);
    t.width = output::terminal_width(io.out);
    io.out << output::render_flow_table(std::move(views), t);
  }
  return kExitOk;
}

int run_cluster_matrix(const cluster::ClusterViewOptions& view_options, double duration_s, bool json,
                       const std::string& ready_file, Io& io) {
  const StopOnSignal stop;
  auto view = open_view(view_options);
  view->refresh(/*metrics=*/true);
  const auto before = view->matrix();
  write_ready_file(ready_file, view->describe());
  wait_for(duration_s, stop);
  view->refresh(/*metrics=*/true);
  // The agents' counters are cumulative: the matrix is what they counted meanwhile.
  std::vector<bpf::MatrixCell> cells;
  for (auto cell : view->matrix()) {
    const auto it = std::find_if(before.begin(), before.end(), [&](const bpf::MatrixCell& b) {
      return b.src_cidr == cell.src_cidr && b.dst_cidr == cell.dst_cidr;
    });
    if (it != before.end()) {
      cell.packets = cell.packets >= it->packets ? cell.packets - it->packets : cell.packets;
      cell.bytes = cell.bytes >= it->bytes ? cell.bytes - it->bytes : cell.bytes;
    }
    if (cell.packets != 0 || cell.bytes != 0) cells.push_back(cell);
  }
  const auto rows = output::matrix_rows(cells, view->cidrs());
  if (json) {
    io.out << json_text({{"matrix", output::matrix_to_json(rows)}, {"agents", view->agents_json()}}, 2)
           << "\n";
  } else {
    const bool color = output::use_color(io.out);
    io.out << header("matrix", *view, output::Style(color)) << output::render_matrix(rows, color);
  }
  return kExitOk;
}

}  // namespace podpath::cli

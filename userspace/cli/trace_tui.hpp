#pragma once
/// @file
/// @brief `podpath trace` on a terminal: the full-screen live view (docs/live-view.md).
/// The screen and the keys are output/live_screen (pure); this is the loop that feeds it
/// from a session and draws it through cli/tui_terminal.

#include <chrono>
#include <cstddef>
#include <string>

#include "cli/command.hpp"
#include "cli/live.hpp"
#include "cli/tui_terminal.hpp"
#include "loader/session.hpp"
#include "output/filter.hpp"
#include "output/flow_table.hpp"

namespace podpath::cli {

/// @brief What `podpath trace` prints.
enum class TraceView {
  Live,       ///< the full-screen view
  Snapshots,  ///< a plain snapshot per refresh
  Json,       ///< one JSON object per refresh
};

/// @brief The view for these flags and this terminal: JSON when asked; plain snapshots
/// with --plain or --once, when stdin and stdout are not both a terminal, or when TERM is
/// unset or "dumb"; else the full-screen view.
TraceView choose_trace_view(bool json, bool plain, bool once, bool terminal, const char* term);

/// @brief Where the live view starts.
struct LiveViewOptions {
  std::chrono::milliseconds interval{1000};
  std::chrono::steady_clock::time_point until = std::chrono::steady_clock::time_point::max();
  output::SortKey sort = output::SortKey::Rate;
  bool show_reply = true;
  std::size_t limit = 0;  ///< at most this many conversations; 0 = all
  output::FlowFilter filter;
  std::string filter_text;  ///< the filter as flags, shown and edited with '/'
};

/// @brief Runs the view on `terminal` until q, Ctrl-C/SIGTERM (`stop`) or `until`,
/// refreshing the session every interval and handling keys between waits. Warnings logged
/// meanwhile are shown on the status line and written to `io.err` once the terminal is
/// restored. A session error is thrown as UserError (the terminal is restored first).
void run_live_view(loader::Session& session, std::unique_ptr<TuiTerminal> terminal,
                   const LiveViewOptions& options, const StopOnSignal& stop, Io& io);

/// @brief The local time, "06:19:40".
std::string clock_text();

}  // namespace podpath::cli

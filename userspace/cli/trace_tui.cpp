#include "cli/trace_tui.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <ostream>
#include <string_view>
#include <vector>

#include "output/live_screen.hpp"
#include "output/session_view.hpp"
#include "util/result.hpp"

namespace podpath::cli {
namespace {

namespace live = output::live;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Keys are read between waits of this length: the longest a key waits to be handled.
constexpr milliseconds kKeySlice{25};

/// While alive, log messages go to a ring buffer instead of stderr (which would write over
/// the screen); on destruction the logger is restored and each distinct message written
/// to `err`, once the terminal is back to normal.
class LogCapture {
 public:
  explicit LogCapture(std::ostream& err)
      : err_(err), saved_(spdlog::default_logger()),
        ring_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64)) {
    auto logger = std::make_shared<spdlog::logger>("podpath-live", ring_);
    logger->set_level(saved_->level());
    logger->set_pattern("%l: %v");
    spdlog::set_default_logger(logger);
  }
  ~LogCapture() {
    spdlog::set_default_logger(saved_);
    std::vector<std::string> seen;
    for (auto& line : ring_->last_formatted()) {
      if (std::find(seen.begin(), seen.end(), line) != seen.end()) continue;
      err_ << line;
      seen.push_back(std::move(line));
    }
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  /// The last warning or error, as "warning: ..." ("" when none).
  [[nodiscard]] std::string last_warning() const {
    auto messages = ring_->last_raw();
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
      if (it->level >= spdlog::level::warn) {
        const auto level = spdlog::level::to_string_view(it->level);
        return fmt::format("{}: {}", std::string_view(level.data(), level.size()),
                           std::string_view(it->payload.data(), it->payload.size()));
      }
    }
    return {};
  }

 private:
  std::ostream& err_;
  std::shared_ptr<spdlog::logger> saved_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring_;
};

live::Status status_of(const loader::Session& s, std::string log) {
  live::Status st;
  st.cluster = s.cluster_description();
  st.attach = s.loader().describe();
  st.clock = clock_text();
  st.counters = s.counters();
  if (const auto& cc = s.container_counters())
    st.container_flows_lost = (*cc)[bpf::CgroupCounter::InsertFull];
  st.log = std::move(log);
  return st;
}

}  // namespace

TraceView choose_trace_view(bool json, bool plain, bool once, bool terminal, const char* term) {
  if (json) return TraceView::Json;
  if (plain || once || !terminal) return TraceView::Snapshots;
  if (term == nullptr || *term == '\0' || std::string_view(term) == "dumb") return TraceView::Snapshots;
  return TraceView::Live;
}

std::string clock_text() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  return fmt::format("{:%H:%M:%S}", tm);
}

void run_live_view(loader::Session& session, std::unique_ptr<TuiTerminal> terminal_in,
                   const LiveViewOptions& options, const StopOnSignal& stop, Io& io) {
  LogCapture capture(io.err);  // declared first: it goes after the terminal is restored
  const std::unique_ptr<TuiTerminal> terminal = std::move(terminal_in);

  live::UiState state;
  state.color = terminal->color();
  state.sort = options.sort;
  state.show_reply = options.show_reply;
  state.limit = options.limit;
  state.filter = options.filter;
  state.filter_text = options.filter_text;

  auto views = output::describe_session(session);
  state.order = live::order_of(live::visible(views, state));
  auto status = status_of(session, capture.last_warning());
  auto next_refresh = Clock::now() + options.interval;
  bool dirty = true;
  while (!stop.flag().load()) {
    if (dirty) {
      terminal->draw(live::render(views, status, state, terminal->size()));
      dirty = false;
    }
    const auto now = Clock::now();
    if (now >= options.until) break;
    // Short waits, so that keys are handled promptly; the session attaches new veths
    // and reads events meanwhile.
    const auto wait = std::min<Clock::duration>({kKeySlice, next_refresh - now, options.until - now});
    if (auto r = session.wait(std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(wait)),
                              stop.flag());
        !r) {
      throw UserError(r.error().to_string());
    }
    while (auto key = terminal->read_key()) {
      const auto rows = live::visible(views, state);
      const auto page = live::page_size(rows, state, terminal->size());
      const auto effect = live::reduce(state, *key, rows, page, parse_filter);
      if (effect == live::Effect::Quit) return;
      dirty = dirty || effect == live::Effect::Redraw;
    }
    if (Clock::now() >= next_refresh) {
      next_refresh += options.interval;
      if (next_refresh <= Clock::now()) next_refresh = Clock::now() + options.interval;
      if (!state.paused) {
        if (auto r = session.refresh(); !r) throw UserError(r.error().to_string());
        views = output::describe_session(session);
        state.order = live::order_of(live::visible(views, state));
        status = status_of(session, capture.last_warning());
        dirty = true;
      }
    }
  }
}

}  // namespace podpath::cli

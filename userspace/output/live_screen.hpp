#pragma once
/// @file
/// @brief The full-screen live view of `podpath trace` as plain data: what the screen
/// shows for given conversations, terminal size and UI state (rows of styled text), and
/// how a key changes the UI state. No terminal I/O here: cli/tui_terminal draws the rows
/// with ncurses, which writes only the cells that changed.
///
/// Layout, top to bottom: a header line (cluster, attach mode, health, time), column
/// titles, one line per conversation with a compact path
/// (`web .2 → cache .3  ICMP  veth ▸ cbr0 ▸ eth0 ⇢ gw ⇢ eth0 ▸ cbr0 ▸ veth  2 pkt/s  47 pkt`),
/// the selected conversation hop by hop (the renderer of the plain snapshots), and a
/// status line (counts, sort, filter, keys).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/counters.hpp"
#include "model/flow.hpp"
#include "output/filter.hpp"
#include "output/flow_table.hpp"
#include "output/flow_view.hpp"
#include "util/result.hpp"

namespace podpath::output::live {

/// @brief Foreground colours the view uses (only when colour is on).
enum class Color : std::uint8_t { Default, Red, Green, Yellow, Cyan };

/// @brief How a run of characters is shown.
struct Attr {
  Color color = Color::Default;
  bool bold = false;
  bool dim = false;
  bool reverse = false;
  bool operator==(const Attr&) const = default;
};

/// @brief A run of UTF-8 text with one attribute.
struct Span {
  std::string text;
  Attr attr;
  bool operator==(const Span&) const = default;
};

/// @brief One screen row.
struct Line {
  std::vector<Span> spans;

  /// @brief Characters shown (UTF-8 code points).
  [[nodiscard]] std::size_t width() const;
  /// @brief The text without attributes.
  [[nodiscard]] std::string text() const;
};

/// @brief Terminal size in character cells.
struct Size {
  std::size_t rows = 24;
  std::size_t cols = 80;
};

/// @brief A whole screen: exactly `rows` lines, none wider than `cols`.
struct Screen {
  std::vector<Line> lines;
  /// @brief The rows as plain text, one per line (what `tmux capture-pane` shows).
  [[nodiscard]] std::string text() const;
};

/// @brief Text styled by output::Style (SGR escape sequences) as spans.
Line parse_styled(std::string_view styled);

/// @brief Cuts a line to `width` characters, ending with "…" when cut.
Line fit(Line line, std::size_t width);

/// @brief What the header and status lines say besides the conversations.
struct Status {
  std::string cluster;  ///< "lab demo"
  std::string attach;   ///< "tcx, 8 interface(s) on 2 node(s), namespace ids: kern-ctx"
  std::string clock;    ///< time of the last refresh, "06:19:40"
  bpf::FlowCounters counters{};
  std::uint64_t container_flows_lost = 0;  ///< container map full
  std::string log;                         ///< the last warning podpath logged, if any
};

/// @brief What the keys go to.
enum class Mode { List, Filter, Help };

/// @brief Everything the user changed with keys.
struct UiState {
  std::optional<model::FlowKey> selected;  ///< the selected conversation's forward key
  std::size_t selected_row = 0;            ///< its row, kept when the conversation goes
  bool expanded = true;                    ///< the selected conversation is shown hop by hop
  bool show_reply = true;                  ///< reply paths: in the list and hop by hop
  bool paused = false;
  bool color = true;  ///< false: no colours (NO_COLOR); missing hops are marked ✗
  SortKey sort = SortKey::Rate;
  /// @brief The list's order at the last refresh (forward keys); empty: sort afresh.
  std::vector<model::FlowKey> order;
  std::size_t limit = 0;  ///< at most this many conversations (the busiest); 0 = all
  FlowFilter filter;
  std::string filter_text;  ///< the active filter as flags ("--pod web")
  Mode mode = Mode::List;
  std::string input;  ///< the filter being typed
  std::string error;  ///< why the typed filter was refused
};

/// @brief Ctrl-U: clears the filter being typed, as in a shell.
inline constexpr char32_t kCtrlU = 0x15;

/// @brief A key press, decoded.
enum class KeyCode { Char, Up, Down, PageUp, PageDown, Home, End, Enter, Escape, Backspace, Resize, Other };
struct Key {
  KeyCode code = KeyCode::Other;
  char32_t ch = 0;  ///< the character, for KeyCode::Char
  static Key of(KeyCode code) { return Key{code, 0}; }
  static Key character(char32_t c) { return Key{KeyCode::Char, c}; }
};

/// @brief Turns a typed filter ("--pod web --proto tcp") into a FlowFilter, or an error.
using FilterParser = std::function<Result<FlowFilter>(const std::string&)>;

/// @brief What the driver does after a key.
enum class Effect { None, Redraw, Quit };

/// @brief The conversations the list shows, in its order, cut to the limit. Sorted afresh
/// (by packets/s for SortKey::Rate, both directions; equal ones by flow key) when
/// `state.order` is empty; otherwise rows keep their
/// previous place unless one clearly beats the row above it (by a quarter), so that
/// conversations of about the same rate do not swap at every refresh.
std::vector<ConversationView> visible(std::vector<ConversationView> views, const UiState& state);

/// @brief The forward keys of `rows`, to keep as UiState::order after a refresh.
std::vector<model::FlowKey> order_of(const std::vector<ConversationView>& rows);

/// @brief Index of the selected conversation in `rows` (the output of visible()), or
/// std::nullopt when there is none.
std::optional<std::size_t> selected_index(const UiState& state, const std::vector<ConversationView>& rows);

/// @brief Applies one key to the state. `rows` are the visible conversations, `page` the
/// number of conversations one page moves; `parse` is used when a typed filter is applied.
Effect reduce(UiState& state, const Key& key, const std::vector<ConversationView>& rows, std::size_t page,
              const FilterParser& parse);

/// @brief Conversations one page of the list holds at this size and state.
std::size_t page_size(const std::vector<ConversationView>& rows, const UiState& state, Size size);

/// @brief The screen for all conversations (unfiltered; the state's filter applies).
Screen render(const std::vector<ConversationView>& views, const Status& status, const UiState& state,
              Size size);

/// @brief The deployment or daemon set behind a generated pod name ("web-7d4b9c8f6d-x2k4q" →
/// "web"); other names as they are ("db-0").
std::string short_pod_name(std::string_view name);

}  // namespace podpath::output::live

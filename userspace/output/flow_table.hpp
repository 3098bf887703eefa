#pragma once
/// @file
/// @brief The terminal rendering of flows with their paths: one header line per
/// direction (`src → dst  PROTO ports  rates`), then one indented line per hop.

#include <cstddef>
#include <string>
#include <vector>

#include "output/flow_view.hpp"

namespace podpath::output {

/// @brief Order of conversations.
enum class SortKey { Rate, Packets, Bytes, None };

/// @brief How to render.
struct TableOptions {
  bool color = false;     ///< ANSI styles (only on a terminal)
  std::size_t width = 0;  ///< terminal columns; 0 = no limit
  SortKey sort = SortKey::Rate;
  std::size_t limit = 0;     ///< at most this many conversations; 0 = all
  bool show_reverse = true;  ///< also the reply direction with its path
};

/// @brief Orders conversations as asked, busiest first (stable: equal ones keep their order).
void sort_conversations(std::vector<ConversationView>& views, SortKey sort);

/// @brief Renders conversations (sorted as asked, busiest first) as text.
std::string render_flow_table(std::vector<ConversationView> views, const TableOptions& options);

/// @brief The header line of one direction, without colour:
/// "default/web-1 10.10.129.2 → default/db-0 10.10.130.2  TCP 43512→5432  1.2 kpkt/s  9.8 Mbit/s".
std::string direction_header(const DirectionView& view);

}  // namespace podpath::output

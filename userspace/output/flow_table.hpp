#pragma once
/// @file
/// @brief The terminal rendering of flows with their paths: one header line per
/// direction (`src → dst  PROTO ports  rates`), then one indented line per hop.

#include <cstddef>
#include <string>
#include <vector>

#include "output/filter.hpp"
#include "output/flow_view.hpp"

namespace podpath::output {

/// @brief Order of conversations.
enum class SortKey { Rate, Packets, Bytes, None };

/// @brief The selection order behind a sort key (None: by rate, as the aggregator does).
flows::ConversationOrder conversation_order(SortKey sort);

/// @brief How to render.
struct TableOptions {
  bool color = false;     ///< ANSI styles (only on a terminal)
  std::size_t width = 0;  ///< terminal columns; 0 = no limit
  SortKey sort = SortKey::Rate;
  std::size_t limit = 0;     ///< at most this many conversations; 0 = all
  bool show_reverse = true;  ///< also the reply direction with its path
};

/// @brief Orders conversations as asked, busiest first, in the order select_conversations()
/// picks them (None: as given).
void sort_conversations(std::vector<ConversationView>& views, SortKey sort);

/// @brief Renders conversations (sorted as asked, busiest first) as text.
std::string render_flow_table(std::vector<ConversationView> views, const TableOptions& options);

/// @brief The busiest `limit` (0 = all) conversations `filter` keeps, in `sort` order, with
/// both ends resolved and their paths composed. Only the selected conversations are
/// described: the others cost one comparison each (docs/benchmarks.md, scale).
SelectedViews select_views(const flows::Aggregator& aggregator, const flows::EndpointResolver& resolver,
                           const flows::Topology& topology, const FlowFilter& filter, SortKey sort,
                           std::size_t limit);

/// @brief The header line of one direction, without colour:
/// "default/web-1 10.10.129.2 → default/db-0 10.10.130.2  TCP 43512→5432  1.2 kpkt/s  9.8 Mbit/s".
std::string direction_header(const DirectionView& view);

}  // namespace podpath::output

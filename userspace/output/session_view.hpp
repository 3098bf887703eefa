#pragma once
/// @file
/// @brief What the live commands show of a session: `podpath trace`'s refresh (the text
/// screen and the NDJSON snapshot) and `podpath debug dump`'s raw maps.

#include <ctime>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/datapath.hpp"
#include "loader/session.hpp"
#include "output/filter.hpp"
#include "output/flow_table.hpp"
#include "output/flow_view.hpp"

namespace podpath::output {

/// @brief select_views() over the session, each direction with the container(s) that sent
/// it when attribution is on.
SelectedViews describe_session(loader::Session& session, const FlowFilter& filter, SortKey sort,
                               std::size_t limit);
/// @brief Every conversation of the session, described (the live view filters and orders
/// them itself).
std::vector<ConversationView> describe_session(loader::Session& session);

/// @brief One trace refresh on a terminal (`tty`: cleared and redrawn in place) or as plain
/// text: a header (cluster, attachment, `clock`), the flow table or "no flows yet"
/// (`filtered`: "... matching the filters"), the health line, and a warning when the
/// container map is full.
/// A line says how many conversations are shown of how many when some are left out.
std::string render_trace(const loader::Session& session, SelectedViews views, const TableOptions& table,
                         bool tty, bool filtered, const std::string& clock);
/// @brief One trace refresh as an NDJSON object: {"type":"snapshot","time","attach",
/// "interfaces","conversations":{"total","matching","shown"},"flows","matrix","health"
/// [,"container_health"]} (docs/paths.md), its text written without a document (the flows).
std::string trace_snapshot_text(const loader::Session& session, const SelectedViews& views, std::time_t now);

/// @brief `podpath debug dump`: the attached interfaces, every flows-map entry, the matrix
/// cells and every health counter, one line each.
std::string render_dump(const loader::Loader& loader, const std::vector<model::FlowRecord>& flows,
                        const std::vector<bpf::MatrixCell>& matrix, const bpf::FlowCounters& counters);

}  // namespace podpath::output

#pragma once
/// @file
/// @brief Flows and paths as JSON (nlohmann). The schema is documented in docs/paths.md;
/// field names are stable.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "flows/endpoint.hpp"
#include "flows/path.hpp"
#include "output/flow_view.hpp"
#include "output/json_writer.hpp"

namespace podpath::output {

/// @brief {"kind","name","ip","node","cidr","cidr_id"} (+ "namespace","pod" for a known pod).
nlohmann::json endpoint_to_json(const flows::Endpoint& endpoint);
/// @brief One conversation as compact JSON text: src, dst, proto, ports, "forward" and "reverse"
/// (null without a reply), each direction with its counters, rates, verdict, complete and hops[]
/// (each hop {"node","interface","direction","role","state","observed","packets","bytes","pps",
/// "bps","ifindex","first_seen_ns","last_seen_ns","route","note","nat"}: what it counted, null when
/// not observed); "id" too when `id` is not empty. Written without building a document: the
/// agent serialises every changed conversation at every refresh.
std::string conversation_json_text(const ConversationView& view, std::string_view id = {});
/// @brief An array of conversations, in the given order, written as conversation_json_text()
/// writes each.
void write_flows(JsonWriter& w, const std::vector<ConversationView>& views);
/// @brief The same array as text, compact or indented (JsonWriter).
std::string flows_json_text(const std::vector<ConversationView>& views, int indent = -1);
/// @brief The same conversation as a document.
nlohmann::json conversation_to_json(const ConversationView& view);
/// @brief {"total","matching","shown"}: how many conversations were tracked, how many the
/// filters keep, how many are in "flows" (at most --limit).
nlohmann::json selection_to_json(const SelectedViews& views);

}  // namespace podpath::output

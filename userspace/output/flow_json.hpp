#pragma once
/// @file
/// @brief Flows and paths as JSON (nlohmann). The schema is documented in docs/paths.md;
/// field names are stable.

#include <vector>

#include <nlohmann/json.hpp>

#include "flows/endpoint.hpp"
#include "flows/path.hpp"
#include "output/flow_view.hpp"

namespace podpath::output {

/// @brief {"kind","name","ip","node","cidr","cidr_id"} (+ "namespace","pod" for a known pod).
nlohmann::json endpoint_to_json(const flows::Endpoint& endpoint);
/// @brief
/// {"node","interface","direction","role","state","observed","packets","bytes","pps","bps","ifindex",
/// "first_seen_ns","last_seen_ns","route","note"}: what the hop counted, null when not observed.
nlohmann::json hop_to_json(const flows::Hop& hop);
/// @brief One direction: counters, rates, verdict, complete, hops[].
nlohmann::json direction_to_json(const DirectionView& view);
/// @brief One conversation: src, dst, proto, ports, "forward" and "reverse" (null without a reply).
nlohmann::json conversation_to_json(const ConversationView& view);
/// @brief {"total","matching","shown"}: how many conversations were tracked, how many the
/// filters keep, how many are in "flows" (at most --limit).
nlohmann::json selection_to_json(const SelectedViews& views);
/// @brief An array of conversations, in the given order.
nlohmann::json flows_to_json(const std::vector<ConversationView>& views);

}  // namespace podpath::output

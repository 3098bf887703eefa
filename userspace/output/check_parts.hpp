#pragma once
/// @file
/// @brief The pieces `podpath check`'s views share (output/check_view.cpp defines them): a
/// direction's hop table, the probes, the verdict lines, and their JSON forms. The
/// check to a Service (output/service_check_view.cpp) renders each backend with them.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "check/evidence.hpp"
#include "output/text.hpp"

namespace podpath::output::check_parts {

/// @brief "default/web-1 10.10.129.2 (node1)".
std::string endpoint_text(const flows::Endpoint& e);
/// @brief The request's path, the reply's (or why none was seen), then the probes under `probes_title`.
void render_probed(std::string& out, const check::Evidence& ev, const char* probes_title, const Style& style);
/// @brief "HEAD  summary" and a line per detail.
void render_verdict(std::string& out, const std::string& head, const check::Verdict& v);
/// @brief The dimmed line naming the inventory, how podpath attached and how drops are tracked.
std::string session_line(const std::string& cluster, const std::string& attach, const std::string& drops,
                         const Style& style);

}  // namespace podpath::output::check_parts

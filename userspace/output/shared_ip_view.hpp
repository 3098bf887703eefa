#pragma once
/// @file
/// @brief `podpath shared-ip` as text (one table per pod: each container, the namespace it
/// runs in, the addresses its traffic used, PASS/FAIL) and as JSON (docs/containers.md).

#include <string>

#include <nlohmann/json.hpp>

#include "check/shared_ip.hpp"
#include "inventory/shared_ip.hpp"
#include "model/cluster.hpp"

namespace podpath::output {

/// @brief Every pod's table and verdict, then OVERALL when there are several. `cluster`
/// names each pod's node.
std::string render_shared_ip(const check::SharedIpReport& report, const model::Cluster& cluster);
/// @brief The documented JSON form of one pod's result.
nlohmann::json shared_ip_result_to_json(const inventory::SharedIpResult& result);
/// @brief {"verdict","namespace_mode","attach_cgroup","duration_s","pods":[...]}.
nlohmann::json shared_ip_to_json(const check::SharedIpReport& report);

}  // namespace podpath::output

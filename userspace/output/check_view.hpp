#pragma once
/// @file
/// @brief `podpath check` as text (a table per direction, the probes, then the verdict) and
/// as JSON (schema in docs/check.md).

#include <string>

#include <nlohmann/json.hpp>

#include "check/checker.hpp"

namespace podpath::output {

/// @brief The report of one check: the request and reply paths hop by hop, the probes, the
/// large-packet probe, then REACHABLE / NOT REACHABLE with the reasons.
std::string render_check(const check::CheckReport& report, bool color);
/// @brief Every problem passive mode found, each like render_check, then a summary line.
std::string render_passive(const check::PassiveReport& report, bool color);
/// @brief The documented JSON form of one check.
nlohmann::json check_to_json(const check::CheckReport& report);
/// @brief The documented JSON form of passive mode: its problems, each as check_to_json.
nlohmann::json passive_to_json(const check::PassiveReport& report);

}  // namespace podpath::output

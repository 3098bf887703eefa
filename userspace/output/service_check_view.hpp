#pragma once
/// @file
/// @brief `podpath check POD SERVICE` as text (each backend picked with its connections, its
/// paths across the DNAT and its verdict, then the Service's verdict) and as JSON (schema in
/// docs/services.md).

#include <string>

#include <nlohmann/json.hpp>

#include "check/checker.hpp"

namespace podpath::output {

/// @brief The report of a check to a Service.
std::string render_service_check(const check::ServiceReport& report, bool color);
/// @brief The documented JSON form: the Service, its verdict, and per backend what
/// check_to_json() gives for a pod.
nlohmann::json service_check_to_json(const check::ServiceReport& report);

}  // namespace podpath::output

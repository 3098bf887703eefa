#pragma once
/// @file
/// @brief Routes libbpf's own log lines into spdlog.

namespace podpath::bpf {

/// @brief Installs the libbpf print callback: warnings -> spdlog warn, info -> info,
/// debug (verifier chatter) -> debug, which only shows under -v.
void route_libbpf_log_to_spdlog();

}  // namespace podpath::bpf

#pragma once
/// @file
/// @brief Where a podpath agent serves its API: `https://host:port`, `http://host:port` or
/// `unix:/path/to.sock` (the forms `--agents` takes and `podpath agent --listen` serves).

#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace podpath::cluster {

/// @brief One agent's API address.
struct AgentEndpoint {
  /// @brief The base URL requests go to: "https://10.0.0.2:9990"; "http://agent" for a unix socket.
  std::string base_url;
  std::string unix_socket;  ///< the socket file, for `unix:PATH`; else empty
  /// @brief The node the agent watches when discovery knew it (the Kubernetes API); else
  /// empty until the agent's /v1/node says.
  std::string node;

  /// @brief As the user wrote it: "unix:/run/x.sock", "https://10.0.0.2:9990".
  [[nodiscard]] std::string display() const;
  bool operator==(const AgentEndpoint&) const = default;
};

/// @brief Parses one address. Accepted: `unix:/absolute/path`, `http://HOST:PORT`,
/// `https://HOST:PORT` (HOST a name, an IPv4 address or `[IPv6]`; PORT 1-65535; a trailing
/// "/" is allowed, any other path, a query or user info is not). The error is one sentence
/// naming the address and what is wrong with it.
Result<AgentEndpoint> parse_agent_endpoint(std::string_view text);

/// @brief Parses a comma-separated list (`--agents A,B`); empty items are skipped, a
/// duplicate address is an error.
Result<std::vector<AgentEndpoint>> parse_agent_endpoints(std::string_view list);

}  // namespace podpath::cluster

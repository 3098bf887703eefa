#pragma once
/// @file
/// @brief One podpath agent as the cluster view reads it: /v1/node and /v1/flows (and
/// /metrics for the matrix) polled at every refresh over HTTP(S) or a unix socket, with the
/// kube layer's libcurl transport (TLS, client certificates, bearer token). An agent that
/// does not answer is retried with backoff and remembered as unreachable since the first
/// failure.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cluster/agent_endpoint.hpp"
#include "kube/http.hpp"

namespace podpath::cluster {

/// @brief TLS and auth towards the agents: the flags `podpath agent` takes, from the
/// client's side (--ca, --tls-client-cert, --tls-client-key, --token-file).
struct AgentAuth {
  std::string ca_file;      ///< PEM bundle that signed the agents' certificates
  std::string client_cert;  ///< PEM client certificate (agents with --tls-client-ca)
  std::string client_key;
  std::string token_file;  ///< bearer token (agents with --token-file)
};

/// @brief What is known of one agent.
struct AgentState {
  AgentEndpoint endpoint;
  /// @brief The node it watches: /v1/node's, else what discovery said (may be empty before
  /// the agent ever answered).
  std::string node;
  bool reachable = false;     ///< the last poll got every answer
  bool ever_reached = false;  ///< some poll did
  /// @brief When it stopped answering (real time), while it does not.
  std::optional<std::chrono::system_clock::time_point> unreachable_since;
  std::string error;          ///< why the last poll failed, one line
  nlohmann::json node_json;   ///< the last /v1/node it served
  nlohmann::json flows_json;  ///< the last /v1/flows it served
  std::string metrics;        ///< the last /metrics it served (only when asked for)
  nlohmann::json drops_json;  ///< the last /v1/drops it served (only when asked for)
  /// @brief The client's real-time-minus-monotonic offset when node_json was read (the
  /// client's clock, for aligning the agent's).
  std::int64_t client_offset_ns = 0;

  /// @brief "node2" or, before the agent named its node, its address.
  [[nodiscard]] std::string name() const { return node.empty() ? endpoint.display() : node; }
};

/// @brief Makes the transport for one agent (tests hand in fakes).
using AgentTransportFactory =
    std::function<std::unique_ptr<kube::HttpTransport>(const AgentEndpoint&, const AgentAuth&)>;

/// @brief libcurl towards `endpoint`, with `auth`.
std::unique_ptr<kube::HttpTransport> curl_agent_transport(const AgentEndpoint& endpoint,
                                                          const AgentAuth& auth);

/// @brief Backoff after `failures` failed polls in a row: 0.5 s, 1 s, 2 s ... at most 8 s.
std::chrono::milliseconds agent_backoff(unsigned failures);

/// @brief Polls one agent.
class AgentClient {
 public:
  AgentClient(AgentEndpoint endpoint, AgentAuth auth,
              const AgentTransportFactory& factory = curl_agent_transport);

  /// @brief Reads /v1/node, /v1/flows (and /metrics when `metrics`, /v1/drops when `drops`)
  /// unless the agent is waiting out its backoff at `now`. A failure keeps the last answers
  /// (for the routes of a node that went away) and marks the agent unreachable.
  void poll(std::chrono::steady_clock::time_point now, bool metrics = false, bool drops = false);
  [[nodiscard]] const AgentState& state() const { return state_; }

 private:
  [[nodiscard]] Result<std::string> get(const std::string& target);
  void failed(const std::string& why, std::chrono::steady_clock::time_point now);

  AgentState state_;
  AgentAuth auth_;
  std::unique_ptr<kube::HttpTransport> transport_;
  unsigned failures_ = 0;
  std::chrono::steady_clock::time_point next_try_{};
};

/// @brief Real time minus CLOCK_MONOTONIC, now (what an agent reports as clock.offset_ns).
std::int64_t clock_offset_ns();

}  // namespace podpath::cluster

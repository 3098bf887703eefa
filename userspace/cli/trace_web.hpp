#pragma once
/// @file
/// @brief `podpath trace --web ADDR:PORT`: the live routing map in a browser, served by the
/// trace process itself (docs/web.md). A lab's agents live in node namespaces, on unix
/// sockets a browser cannot reach; the trace process sees every node and serves the page and
/// the same /v1 API on loopback in the root namespace.

#include <chrono>
#include <string>

#include "cli/cluster_flags.hpp"
#include "cli/command.hpp"
#include "cli/live.hpp"
#include "cluster/view.hpp"
#include "loader/session.hpp"
#include "server/map_server.hpp"

namespace CLI {
class App;
}

namespace podpath::cli {

/// @brief --web and what protects it (the agent's rules: loopback, or TLS and client
/// authentication).
struct WebFlags {
  std::string web;  ///< ADDR:PORT; empty: no map
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  std::string token_file;
  bool no_drops = false;  ///< --no-drops: no drop program (trace) / no /v1/drops read (--cluster)

  void add_to(CLI::App& sub);
  [[nodiscard]] bool enabled() const { return !web.empty(); }
  /// @brief Throws UserError for --token-file without --web or `cluster`, and for a --web
  /// address that does not parse or is refused (before anything is attached).
  void validate(bool cluster) const;
  /// @brief Throws UserError for an address that does not parse.
  [[nodiscard]] server::MapServerOptions options() const;
};

/// @brief Serves the map until `stop` or `until`, refreshing `session` every `interval`.
/// Prints the map's URL first (and writes `ready_file`, if any, once it is served).
int run_trace_web(loader::Session& session, const WebFlags& flags, std::chrono::milliseconds interval,
                  std::chrono::steady_clock::time_point until, const std::string& ready_file,
                  const StopOnSignal& stop, Io& io);

/// @brief `trace --cluster --web`: serves the map of the cluster view (every agent, read over
/// its own address; a lab's over unix sockets) on loopback, refreshed every `options.interval_s`,
/// until a signal or --duration. Prints the URL and writes the ready file as run_trace_web does.
int run_cluster_web(cluster::ClusterViewOptions view, const WebFlags& flags,
                    const ClusterTraceOptions& options, Io& io);

}  // namespace podpath::cli

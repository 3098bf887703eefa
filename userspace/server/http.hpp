#pragma once
/// @file
/// @brief The agent's HTTP listeners over cpp-httplib 0.11: each binds its own socket (TCP
/// or a unix socket file), runs on a bounded WorkerPool, applies the request limits and
/// authentication, and serves the API or the metrics surface. Internal to the server layer.

#include <atomic>
#include <cstddef>
#include <ctime>
#include <memory>
#include <string>
#include <thread>

#include "server/listen_address.hpp"
#include "server/metrics.hpp"
#include "server/snapshot_hub.hpp"
#include "server/tls.hpp"
#include "server/token.hpp"
#include "util/fd.hpp"
#include "util/result.hpp"
#include <server_third_party.hpp>  // private to this layer (see there)

namespace podpath::server {

class CheckService;

/// @brief Bounds on connections and requests (docs/agent.md, "Limits").
struct HttpLimits {
  std::size_t threads = 24;       ///< pool threads per listener (streams included)
  std::size_t max_waiting = 128;  ///< accepted connections waiting for a thread
  int backlog = 64;               ///< the kernel's queue of connections not yet accepted
  std::time_t keep_alive_s = 2;   ///< idle time before a kept-alive (or silent new) connection closes
  std::size_t keep_alive_requests = 100;
  std::time_t read_timeout_s = 5;   ///< per read while a request arrives
  std::time_t write_timeout_s = 5;  ///< per write: a client that reads nothing for this long is dropped
  std::size_t max_path = 1024;      ///< bytes of the request target before '?'
  std::size_t max_headers = 64;
  std::size_t max_header_bytes = 16 * 1024;
};

/// @brief What a listener serves.
enum class Surface {
  Api,      ///< /v1/*, /metrics, /healthz, /readyz
  Metrics,  ///< /metrics, /healthz, /readyz: plain HTTP, no flow detail
};

/// @brief Shared by every listener's handlers.
struct HttpContext {
  SnapshotHub& hub;
  const AgentMetrics& metrics;
  HttpLimits limits;
  std::chrono::milliseconds heartbeat{15'000};
  /// @brief Serves POST /v1/check on the API surface; null: no such endpoint.
  CheckService* check = nullptr;
};

/// @brief One bound, serving listener.
class Listener {
 public:
  /// @brief Binds `address` (a unix socket: mode 0600, a stale file of a dead agent replaced,
  /// a live one refused) and starts serving on a thread of its own. `tls` (may be null) makes
  /// it HTTPS; `token` (may be null) requires the bearer token.
  static Result<std::unique_ptr<Listener>> start(const ListenAddress& address, Surface surface, TlsStore* tls,
                                                 const TokenStore* token, const HttpContext& context);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  /// @brief Stops accepting, waits for the serving threads (streams must be ended first).
  void stop();
  /// @brief "https://10.0.0.2:9990", "http://127.0.0.1:41234", "unix:/run/x.sock".
  [[nodiscard]] const std::string& url() const { return url_; }

 private:
  struct Impl;
  explicit Listener(const HttpContext& context);
  std::unique_ptr<Impl> impl_;
  std::string url_;
};

}  // namespace podpath::server

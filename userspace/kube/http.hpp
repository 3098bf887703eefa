#pragma once
/// @file
/// @brief A small HTTP GET interface for the API client, and its libcurl implementation.
/// Unit tests replace the interface with recorded responses.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "kube/config.hpp"

namespace podpath::kube {

/// @brief Why a request got no HTTP response.
enum class TransportFailure {
  None,         ///< an HTTP response arrived (any status)
  Unreachable,  ///< name resolution, connection refused or timed out, connection reset
  Tls,          ///< handshake failed, certificate not trusted, client certificate refused
  Timeout,      ///< the transfer took longer than the request allowed
  Cancelled,    ///< cancel() was called
  Other,        ///< anything else (bad URL, out of memory, a body cut short)
};

/// @brief A GET request. `target` is the path and query: "/api/v1/pods?limit=500".
struct HttpRequest {
  std::string target;
  std::string accept = "application/json";
  std::chrono::milliseconds timeout{0};  ///< whole transfer; 0 = no limit
  /// @brief Set: a POST of this body (Content-Type: application/json) instead of a GET (an
  /// agent's POST /v1/check; the API client only reads).
  std::optional<std::string> post_json;
};

/// @brief The outcome of a request.
struct HttpResponse {
  TransportFailure failure = TransportFailure::None;
  std::string failure_message;  ///< one line, e.g. curl's "Connection refused"
  long status = 0;              ///< HTTP status; 0 when failure != None
  std::string body;             ///< the body, unless it went to a sink (2xx only)
  std::string retry_after;      ///< the Retry-After header, if any (a 429's)
};

/// @brief Receives a 2xx body chunk by chunk; returns false to end the transfer.
using BodySink = std::function<bool(std::string_view chunk)>;

/// @brief Sends GET (and the odd POST) requests to one server. One request at a time per instance.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  /// @brief Sends `request`. A 2xx body goes to `sink` when it is set; any other body
  /// (a v1 Status) is collected in HttpResponse::body. Blocks until the body ends.
  virtual HttpResponse get(const HttpRequest& request, const BodySink& sink) = 0;
  /// @brief Ends the transfer in progress (from any thread); the next get() works again.
  virtual void cancel() = 0;
};

/// @brief Creates one transport per informer thread.
using TransportFactory = std::function<std::unique_ptr<HttpTransport>()>;

/// @brief libcurl: TLS verified against the config's CA (file or PEM data), client
/// certificates (files or PEM data), bearer token from `tokens` (invalidated on 401, so a
/// rotated token is re-read), TCP keep-alive, a 10 s connect timeout.
std::unique_ptr<HttpTransport> make_curl_transport(const ClusterConfig& config,
                                                   std::shared_ptr<TokenSource> tokens);

/// @brief A factory for make_curl_transport with one TokenSource shared by all transports.
TransportFactory curl_transport_factory(const ClusterConfig& config);

/// @brief Percent-encodes a query value (continue tokens, selectors).
std::string url_encode(std::string_view value);

}  // namespace podpath::kube

#pragma once
/// @file
/// @brief Where the Kubernetes API is and how to authenticate to it: in-cluster (the pod's
/// service account) or a kubeconfig file, in the order client tools use.

#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace podpath::kube {

/// @brief The service-account directory every pod gets (token, ca.crt, namespace).
inline constexpr std::string_view kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

/// @brief How to reach and authenticate to one API server. PEM data and file names are
/// alternatives; when both are set the data wins (kubectl's rule).
struct ClusterConfig {
  std::string server;  ///< "https://10.96.0.1:443"
  /// @brief Connect through this unix socket instead of TCP (`server` then names the host for
  /// the request line only, e.g. "http://agent"); a podpath agent's `--listen unix:PATH`.
  std::string unix_socket;
  std::string source;   ///< for messages: "in-cluster service account" or "kubeconfig FILE (context C)"
  std::string context;  ///< kubeconfig context name; empty in-cluster
  std::string ns;       ///< the default namespace (service account's, or the context's)

  std::filesystem::path ca_file;  ///< PEM bundle to verify the server with
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;

  std::filesystem::path client_cert_file;  ///< client certificate (PEM) ...
  std::string client_cert_pem;
  std::filesystem::path client_key_file;  ///< ... and its key (PEM)
  std::string client_key_pem;

  std::string token;                  ///< static bearer token
  std::filesystem::path token_file;   ///< bearer token re-read periodically (bound tokens rotate)
  std::vector<std::string> warnings;  ///< e.g. insecure-skip-tls-verify; print each once
};

/// @brief Reads environment variables; replaceable in tests.
using Getenv = std::function<std::optional<std::string>(const char* name)>;
/// @brief The process environment.
std::optional<std::string> process_getenv(const char* name);

/// @brief Inputs of config discovery, each replaceable in tests.
struct ConfigOptions {
  std::optional<std::filesystem::path> kubeconfig;  ///< --kubeconfig; tried first, alone
  Getenv getenv = process_getenv;
  std::filesystem::path service_account_dir = std::filesystem::path(kServiceAccountDir);
};

/// @brief True when KUBERNETES_SERVICE_HOST is set (the process runs in a pod).
bool in_cluster_environment(const Getenv& getenv);

/// @brief The in-cluster configuration: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT,
/// the service account's token file (re-read by TokenSource), ca.crt and namespace.
Result<ClusterConfig> in_cluster_config(const Getenv& getenv,
                                        const std::filesystem::path& service_account_dir);

/// @brief Parses a kubeconfig document. `file` names it in messages and anchors relative
/// paths (certificate-authority, client-certificate, client-key, tokenFile), as kubectl
/// does. Uses `context`, or current-context when empty. Errors name the file and field.
Result<ClusterConfig> parse_kubeconfig(std::string_view yaml, const std::filesystem::path& file,
                                       std::string_view context = {});
/// @brief Reads and parses a kubeconfig file.
Result<ClusterConfig> read_kubeconfig(const std::filesystem::path& file, std::string_view context = {});

/// @brief Finds the configuration, in this order: `options.kubeconfig`; $KUBECONFIG (a
/// colon-separated list: the first file that sets current-context is used on its own,
/// the files are not merged); in-cluster (KUBERNETES_SERVICE_HOST); ~/.kube/config.
/// The error of the first source that applies is returned; none applying is an error too.
Result<ClusterConfig> load_config(const ConfigOptions& options);

/// @brief Hands out the bearer token. A token file is re-read when the last read is older
/// than `refresh` or after invalidate() (a 401: the token may have rotated). A failed
/// re-read keeps the last good token. Thread-safe.
class TokenSource {
 public:
  using Clock = std::chrono::steady_clock;
  TokenSource(std::string token, std::filesystem::path token_file,
              std::chrono::seconds refresh = std::chrono::seconds(60),
              std::function<Clock::time_point()> now = Clock::now);

  /// @brief The current token; empty when the config has none. Error only when the token
  /// file never could be read.
  Result<std::string> token();
  /// @brief Re-read the file on the next token() call.
  void invalidate();

 private:
  std::mutex mutex_;
  std::string token_;
  std::filesystem::path file_;
  std::chrono::seconds refresh_;
  std::function<Clock::time_point()> now_;
  std::optional<Clock::time_point> read_at_;
};

/// @brief Strict RFC 4648 base64 (padding required, whitespace and newlines ignored);
/// nullopt for anything else.
std::optional<std::string> decode_base64(std::string_view text);

}  // namespace podpath::kube
